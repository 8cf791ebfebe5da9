"""Request and response models of the HTTP API (docs/api.md), declared with pydantic. Unknown
request fields are ignored, as LiteLLM does.

These declarations are the source: docs/openapi.json is generated from them, the unit tests use
them, and `make build` compiles them ahead into pydantic-core schemas (teamledger.http.compiled)
that a deployed function validates with, without importing pydantic. The layer imports them
through teamledger.http.models. Checks beyond types are named functions of
teamledger.http.checks (a compiled schema refers to them by name: no lambda, no closure).

Range checks on money, limits and durations are business rules (400 after authorization, per
the API's order of checks), so they live in `domain/limits.py`, not in these shapes (422).
"""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from teamledger import sizes
from teamledger.domain.limits import storable_json
from teamledger.http import checks


def at_most_bytes(limit: int) -> AfterValidator:
    """Text of at most `limit` UTF-8 bytes (keys are measured in bytes, not characters); the
    schema's maxLength says the same number in characters, which the bytes bound anyway, and
    `x-max-bytes` the bytes."""
    return AfterValidator(checks.AtMostBytes(limit))


def bytes_schema(limit: int) -> Any:
    """The byte limit in the request's schema too (`x-max-bytes`; JSON Schema counts only
    characters)."""
    return Field(json_schema_extra={"x-max-bytes": limit})


# An id: no control character (C0, DEL, C1), line or paragraph separator (U+2028, U+2029; NEL
# is C1) or BOM (U+FEFF) anywhere, and no whitespace at either end (so none that is only
# whitespace). Written out, not \s: the same classes in pydantic's and any client's regex.
_NOT_IN_ID = r"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff"
_SPACES = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
ID_PATTERN = rf"^[^{_NOT_IN_ID}{_SPACES}](?:[^{_NOT_IN_ID}]*[^{_NOT_IN_ID}{_SPACES}])?$"
Text = Annotated[str, StringConstraints(max_length=1024)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=sizes.ID_BYTES,
                                      pattern=ID_PATTERN),
               at_most_bytes(sizes.ID_BYTES), bytes_schema(sizes.ID_BYTES)]
# A filter by id in a query: an id, or empty where the parameter always allowed it (no filter).
QueryId = Annotated[str, StringConstraints(max_length=sizes.ID_BYTES,
                                           pattern=f"^$|{ID_PATTERN}"),
                    at_most_bytes(sizes.ID_BYTES), bytes_schema(sizes.ID_BYTES)]
Email = Annotated[str, StringConstraints(min_length=3, max_length=sizes.EMAIL_BYTES,
                                         pattern=r"^[^\s@]+@[^\s@]+$"),
                  at_most_bytes(sizes.EMAIL_BYTES), bytes_schema(sizes.EMAIL_BYTES)]
Alias = Annotated[str, StringConstraints(max_length=sizes.ALIAS_BYTES),
                  at_most_bytes(sizes.ALIAS_BYTES), bytes_schema(sizes.ALIAS_BYTES)]
ChangedBy = Annotated[str, StringConstraints(min_length=1, max_length=sizes.CHANGED_BY_BYTES),
                      at_most_bytes(sizes.CHANGED_BY_BYTES), bytes_schema(sizes.CHANGED_BY_BYTES)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=512)]
# int first: whole numbers stay ints; NaN, fractions and the like reach limits.check_limit (400).
Limit = int | float
Metadata = Annotated[dict[str, Any], AfterValidator(storable_json)]
UserRole = Literal["proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer"]
TeamRole = Literal["admin", "user"]
# The key routes a team may open to its plain members (policy.KEY_ROUTES, in the same order).
KeyRoute = Literal["/key/generate", "/key/update", "/key/delete", "/key/info", "/key/regenerate",
                   "/key/list"]
# A team's `team_member_permissions`: each route once, in the order sent.
MemberPermissions = Annotated[list[KeyRoute], Field(max_length=6),
                              AfterValidator(checks.each_once)]


# defer_build: a function builds the validators of the few models its route uses, on first
# use, instead of every model of the API at import (cold start).
class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Member(Request):
    user_id: Id | None = None
    user_email: Email | None = None
    role: TeamRole = "user"


class TeamSettings(Request):
    """The fields /team/new and /team/update share (all optional in both)."""

    team_alias: Alias | None = None
    organization_id: Id | None = None
    metadata: Metadata | None = None
    tpm_limit: Limit | None = None
    rpm_limit: Limit | None = None
    max_parallel_requests: Limit | None = None
    max_budget: float | None = None
    budget_duration: Text | None = None
    model_aliases: Metadata | None = None
    tags: list[Name] | None = Field(default=None, max_length=1000)
    guardrails: list[Name] | None = Field(default=None, max_length=1000)
    team_member_permissions: MemberPermissions | None = None


class TeamNewRequest(TeamSettings):
    team_id: Id | None = None
    # One transaction: 5 items of the team, up to 15 of its alias words (store/alias_words),
    # 4 of the caller's membership (and new user row), 5 per member (a new user with an
    # email), the users counter: 5 + 15 + 4 + 5 x 15 + 1 <= 100.
    members_with_roles: list[Member] = Field(default_factory=list, max_length=15)
    models: list[Name] = Field(default_factory=list, max_length=1000)
    blocked: bool = False


class TeamUpdateRequest(TeamSettings):
    team_id: Id
    models: list[Name] | None = Field(default=None, max_length=1000)
    blocked: bool | None = None


class TeamPatchRequest(TeamSettings):
    """PATCH /team/{team_id}: /team/update's body; a `team_id` in it must be the path's."""

    team_id: Id | None = None
    models: list[Name] | None = Field(default=None, max_length=1000)
    blocked: bool | None = None


class TeamIdRequest(Request):
    team_id: Id


class TeamDeleteRequest(Request):
    team_ids: list[Id] = Field(min_length=1, max_length=40)


class UserUpdateRequest(Request):
    """POST /user/update: `user_id` names the user (else `user_email` does); null or left
    out leaves a field as it is."""

    user_id: Id | None = None
    user_email: Email | None = None
    user_role: UserRole | None = None
    max_budget: float | None = None
    budget_duration: Text | None = None
    models: list[Name] | None = Field(default=None, max_length=1000)
    metadata: Metadata | None = None


class UserDeleteRequest(Request):
    user_ids: list[Id] = Field(min_length=1, max_length=40)


class UserNewRequest(Request):
    user_id: Id | None = None
    user_email: Email | None = None
    user_role: UserRole = "internal_user"
    max_budget: float | None = None
    budget_duration: Text | None = None
    models: list[Name] = Field(default_factory=list, max_length=1000)
    metadata: Metadata | None = None
    teams: list[Id] | None = Field(default=None, max_length=20)
    # LiteLLM's: the user joins this team as `user`, and their first key is of this team.
    team_id: Id | None = None


# A route a key may be limited to: a path of this API, or a prefix of paths ending in `/*`.
RoutePattern = Annotated[str, StringConstraints(min_length=2, max_length=256,
                                                pattern=r"^/[A-Za-z0-9_.{}/-]*(/\*)?$")]


class KeyGenerateRequest(Request):
    user_id: Id | None = None
    team_id: Id | None = None
    key_alias: Alias | None = None
    models: list[Name] = Field(default_factory=list, max_length=1000)
    max_budget: float | None = None
    budget_duration: Text | None = None
    duration: Text | None = None
    metadata: Metadata | None = None
    # Empty: every route its owner may call; else only these (LiteLLM's key field).
    allowed_routes: list[RoutePattern] = Field(default_factory=list, max_length=100)


# member_add is one transaction (100 items at most): the roster update, then per member its
# item and its record, and for a new user its row, its record and its email's item: 1 + 5 x 19.
MAX_MEMBERS_PER_ADD = 19
MemberList = Annotated[list[Member], Field(min_length=1, max_length=MAX_MEMBERS_PER_ADD)]


class MemberAddRequest(Request):
    team_id: Id
    member: Member | MemberList = Field(
        description=f"One member, or a list of up to {MAX_MEMBERS_PER_ADD} added all or nothing; "
                    "for more, use /team/bulk_member_add (up to 500, each added on its own).")
    max_budget_in_team: float | None = None
    budget_duration: Text | None = None


class BulkMemberAddRequest(Request):
    team_id: Id
    # Up to 500 (more is a 400, a business rule checked after authorization).
    members: list[Member] = Field(default_factory=list)
    max_budget_in_team: float | None = None


class MemberDeleteRequest(Request):
    team_id: Id
    user_id: Id | None = None
    user_email: Email | None = None


class MemberUpdateRequest(MemberDeleteRequest):
    # null leaves a field as it is, as LiteLLM does (clients send every field).
    role: TeamRole | None = None
    max_budget_in_team: float | None = None
    budget_duration: Text | None = None


class TeamModelsRequest(Request):
    team_id: Id
    models: list[Name] = Field(min_length=1, max_length=1000)


class SpendTrackRequest(Request):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    key: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    spend: float
    # A retry with the same request_id (for this key) counts once.
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class SpendReserveRequest(Request):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    key: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    amount: float  # USD, the call's worst case; range checked in the domain (400)
    # A retry with the same request_id (for this key) answers the same reservation.
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    ttl_seconds: int = 600


ReservationId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SpendSettleRequest(Request):
    reservation_id: ReservationId
    spend: float  # USD actually spent; range checked in the domain (400)


class SpendReleaseRequest(Request):
    reservation_id: ReservationId


class KeyDeleteRequest(Request):
    keys: list[Annotated[str, StringConstraints(min_length=1, max_length=512)]] = Field(
        min_length=1, max_length=sizes.KEYS_PER_DELETE)


KeyName = Annotated[str, StringConstraints(min_length=1, max_length=512)]  # token or raw key


class KeyChanges(Request):
    """The fields /key/update and /key/regenerate change: only those sent (null: unchanged,
    as LiteLLM)."""

    key_alias: Alias | None = None
    models: list[Name] | None = Field(default=None, max_length=1000)
    max_budget: float | None = None
    budget_duration: Text | None = None
    duration: Text | None = Field(default=None, description="Expiry, from now")
    metadata: Metadata | None = Field(default=None, description="Replaces the key's metadata")
    team_id: Id | None = Field(default=None, description="Moves the key to this team")
    blocked: bool | None = None
    tpm_limit: Limit | None = None
    rpm_limit: Limit | None = None


class KeyUpdateRequest(KeyChanges):
    key: KeyName


class KeyRegenerateRequest(KeyChanges):
    # Required in the body of POST /key/regenerate; /key/{key}/regenerate has it in the path.
    key: KeyName | None = None
    grace_period: Text | None = Field(
        default=None, description="A duration: the old key keeps working until it ends")


# --- responses ---------------------------------------------------------------------------

class Response(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class MemberOut(Response):
    user_id: str | None
    user_email: str | None
    role: str


class BudgetTable(Response):
    max_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: str | None = None
    soft_budget: float | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    model_max_budget: dict[str, Any] | None = None


class TeamMembership(Response):
    user_id: str
    team_id: str
    budget_id: str | None = None
    spend: float = 0.0
    litellm_budget_table: BudgetTable | None = None


class ModelTable(Response):
    model_aliases: dict[str, Any] = Field(default_factory=dict)


class Team(Response):
    team_id: str
    team_alias: str | None = None
    organization_id: str | None = None
    # Deprecated in LiteLLM, which never fills them: always []. Members are members_with_roles.
    admins: list[str] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)
    members_with_roles: list[MemberOut] = Field(default_factory=list)
    team_member_permissions: list[str] = Field(
        default_factory=checks.default_member_permissions,
        description="The key routes plain members may call for the team's keys")
    metadata: dict[str, Any] = Field(default_factory=dict)
    tpm_limit: Limit | None = None
    rpm_limit: Limit | None = None
    max_budget: float | None = None
    budget_duration: str | None = None
    models: list[str] = Field(default_factory=list)
    blocked: bool = False
    spend: float = 0.0
    max_parallel_requests: Limit | None = None
    budget_reset_at: str | None = None
    model_id: int | None = None
    litellm_model_table: ModelTable | None = None
    created_at: str
    updated_at: str


class User(Response):
    user_id: str
    user_email: str | None = None
    user_role: str
    teams: list[str] = Field(default_factory=list)
    max_budget: float | None = None
    spend: float = 0.0
    budget_duration: str | None = None
    budget_reset_at: str | None = None
    models: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str


class Key(Response):
    token: str
    token_id: str = Field(description="The key's token again (LiteLLM's name for it)")
    key_alias: str | None = None
    key_name: str
    team_id: str | None = None
    user_id: str | None = None
    models: list[str] = Field(default_factory=list)
    spend: float = 0.0
    max_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: str | None = None
    expires: str | None = None
    blocked: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    allowed_routes: list[str] = Field(default_factory=list)
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    created_at: str
    updated_at: str = Field(description="The last change of the key (`created_at` for a key "
                                        "never changed)")


# The raw key is shown once: a replay of an Idempotency-Key request answers null (never stored).
RawKey = Annotated[str | None, Field(
    description="The new raw key (`sk-...`), shown in this answer only; null in the replay of "
                "a request with an Idempotency-Key, since it is never stored")]


class GeneratedKey(Key):
    key: RawKey


class NewUser(User):
    key: RawKey
    team_id: str | None = Field(default=None, description="The key's team (the request's "
                                                          "`team_id`)")


class TeamUpdated(Response):
    team_id: str
    data: Team


class TeamsDeleted(Response):
    deleted_teams: list[str]


class TeamInfo(Response):
    team_id: str
    team_info: Team
    keys: list[Key]
    team_memberships: list[TeamMembership]
    # Past the first 1,000 members (by user_id): GET /team/members?cursor= pages the rest.
    members_next_cursor: str | None = None


class TeamMembersPage(Response):
    """GET /team/members: the next members of a team (as /team/info shows them) by user_id."""

    team_id: str
    members: list[MemberOut]
    team_memberships: list[TeamMembership]
    next_cursor: str | None = None


class ListedTeam(Team):
    team_memberships: list[TeamMembership] = Field(default_factory=list)
    keys: list[Key] = Field(default_factory=list)


class TeamPage(Response):
    """GET /v2/team/list."""

    teams: list[Team]
    total: int
    page: int
    page_size: int
    total_pages: int
    next_cursor: str | None = None


class AuditLog(Response):
    id: str
    updated_at: str
    changed_by: str | None = None
    changed_by_api_key: str | None = None
    action: str
    table_name: str
    object_id: str
    before_value: dict[str, Any] | None = None
    updated_values: dict[str, Any] | None = None


class AuditPage(Response):
    """GET /audit."""

    data: list[AuditLog]
    next_cursor: str | None = None


class BudgetState(Response):
    spend: float
    max_budget: float | None = None
    budget_exceeded: bool


class SpendTracked(Response):
    """POST /spend/track: the budgets the spend went to (None: the key has no such owner)."""

    key: BudgetState
    user: BudgetState | None = None
    team: BudgetState | None = None
    team_membership: BudgetState | None = None


class ScopeState(Response):
    """A budget scope on the per-call path, in USD."""

    spend: float
    reserved: float
    max_budget: float | None = None
    remaining: float | None = None  # max_budget - spend - reserved; None: no budget


class Reservation(Response):
    """POST /spend/reserve, /spend/settle and /spend/release."""

    reservation_id: str
    state: str  # held, settled, released, expired (charged by the schedule)
    expires_at: str
    user_id: str | None = None
    team_id: str | None = None
    key_alias: str | None = None
    models: list[str] = Field(default_factory=list)
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    scopes: dict[str, ScopeState] = Field(default_factory=dict)


class MemberAdded(Team):
    updated_users: list[User]
    updated_team_memberships: list[TeamMembership]


class BulkMemberResult(Response):
    user_id: str | None
    user_email: str | None
    success: bool
    error: str | None = None


class BulkMembersAdded(Response):
    team_id: str
    results: list[BulkMemberResult]
    total_requested: int
    successful_additions: int
    failed_additions: int
    updated_team: Team


class MemberUpdated(Response):
    user_id: str
    user_email: str | None
    team_id: str
    max_budget_in_team: float | None


class UserInfo(Response):
    user_id: str
    user_info: User
    keys: list[Key]
    teams: list[ListedTeam]  # with this user's membership and keys only


class CallerKey(Key):
    """GET /key/info's `info`: a Key, and the role of its user when it is the caller's own
    (who am I). The master key is no stored key: it has no name nor times (null)."""

    # Wider than Key's: only the master key's answer has them null.
    key_name: str | None  # type: ignore[assignment]
    created_at: str | None = None  # type: ignore[assignment]
    updated_at: str | None = Field(  # type: ignore[assignment]
        default=None, description="The last change of the key (`created_at` for a key never "
                                  "changed); null for the master key")
    user_role: str | None = Field(default=None, description="The caller's role, when the key "
                                                            "is the caller's own; else null")


class KeyInfo(Response):
    key: str
    info: CallerKey


class KeysDeleted(Response):
    deleted_keys: list[str]


class UsersDeleted(Response):
    deleted_users: list[str]


class UserPage(Response):
    """GET /user/list."""

    users: list[User]
    total: int
    page: int
    page_size: int
    total_pages: int


class TeamPermissionsRequest(Request):
    """POST /team/permissions_update."""

    team_id: Id
    team_member_permissions: MemberPermissions


class TeamPermissions(Response):
    """GET /team/permissions_list, POST /team/permissions_update."""

    team_id: str
    team_member_permissions: list[str]
    all_available_permissions: list[str]


class KeyPage(Response):
    """GET /key/list: tokens, or Key objects with `return_full_object=true`."""

    keys: list[str] | list[Key]
    total_count: int
    current_page: int
    total_pages: int
