"""Who may do what: the API's role table (docs/api.md) as data, applied in its order of checks.

1. the route gate: a caller kind that may not use the route at all gets 403;
2. an unknown object is 404 for admins and viewers, 403 for everyone else (no probing);
3. a caller who does not see everything needs a relation to the object (team admin, owner...).
"""

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from teamledger.config import settings
from teamledger.domain.callers import (
    INTERNAL_USER,
    INTERNAL_USER_VIEWER,
    PROXY_ADMIN,
    PROXY_ADMIN_VIEWER,
    Caller,
)
from teamledger.errors import Forbidden, NotFound

if TYPE_CHECKING:  # for annotations only: the rules need no request models at run time
    from teamledger.http.models import Member

TEAM_KEY = "team_key"  # a key with a team and no user
NO_IDENTITY = "none"  # a key with neither: passes authentication and nothing more


class Relation(Enum):
    TEAM_ADMIN = "team admin"
    TEAM_MEMBER = "team member"
    TEAM_KEY = "the team's own key"
    SELF = "self"
    OWNER = "owner"
    SELF_JOIN = "joining an available team as oneself"
    KEY_ITSELF = "the key itself"
    # A plain member whose team's `team_member_permissions` names the key route called.
    PERMITTED_MEMBER = "a team member the team lets call this route"


class Action(Enum):
    TEAM_CREATE = "create teams"
    TEAM_MANAGE = "manage this team"
    TEAM_LIMITS = "change this team's budget and limits"
    TEAM_LIFT_ADMIN_BLOCK = "unblock a team an admin blocked"
    TEAM_READ = "read this team"
    TEAMS_AVAILABLE = "list the teams open to join"
    TEAMS_LIST = "list teams"
    TEAMS_SEARCH = "search all teams"
    AUDIT_READ = "read the audit log"
    TEAM_AUDIT_READ = "read this team's audit log"
    SPEND_TRACK = "track spend"
    MEMBER_MANAGE = "manage this team's members"
    USER_CREATE = "create users"
    USER_READ = "read this user"
    USER_UPDATE = "update this user"
    USER_LIMITS = "change this user's role, budget or models"
    USER_DELETE = "delete users"
    USERS_LIST = "list users"
    KEY_GENERATE = "generate this key"
    KEY_READ = "read this key"
    KEY_DELETE = "delete this key"
    KEY_UPDATE = "update this key"
    KEY_REGENERATE = "regenerate this key"
    KEY_LIMITS = "change this key's budget and limits"
    KEYS_LIST = "list keys"
    TEAM_PERMISSIONS_READ = "read this team's member permissions"


@dataclass(frozen=True)
class Rule:
    gate: frozenset[str]  # caller kinds that may call the route at all
    everything: frozenset[str]  # caller kinds that need no relation to the object
    relations: frozenset[Relation] = frozenset()


_ADMIN = frozenset({PROXY_ADMIN})
_READERS = frozenset({PROXY_ADMIN, PROXY_ADMIN_VIEWER})
_USERS = frozenset({PROXY_ADMIN, INTERNAL_USER})
_ALL_USERS = _READERS | {INTERNAL_USER, INTERNAL_USER_VIEWER}

RULES: dict[Action, Rule] = {
    Action.TEAM_CREATE: Rule(gate=_ADMIN, everything=_ADMIN),
    Action.TEAM_MANAGE: Rule(gate=_USERS, everything=_ADMIN,
                             relations=frozenset({Relation.TEAM_ADMIN})),
    # Team admins manage their team, but not what an admin set on it: its budget and limits
    # (a team admin could lift them, or restart the period to zero the spend), nor an admin's
    # block.
    Action.TEAM_LIMITS: Rule(gate=_ADMIN, everything=_ADMIN),
    Action.TEAM_LIFT_ADMIN_BLOCK: Rule(gate=_ADMIN, everything=_ADMIN),
    Action.TEAM_READ: Rule(gate=_ALL_USERS | {TEAM_KEY}, everything=_READERS,
                           relations=frozenset({Relation.TEAM_ADMIN, Relation.TEAM_MEMBER,
                                                Relation.TEAM_KEY})),
    Action.TEAMS_AVAILABLE: Rule(gate=_ALL_USERS | {TEAM_KEY}, everything=_ALL_USERS | {TEAM_KEY}),
    # Everyone with an identity lists teams; who does not read everything sees their own.
    Action.TEAMS_LIST: Rule(gate=_ALL_USERS | {TEAM_KEY}, everything=_READERS),
    Action.TEAMS_SEARCH: Rule(gate=_READERS, everything=_READERS),
    Action.AUDIT_READ: Rule(gate=_READERS, everything=_READERS),
    # A team's timeline (GET /audit?team_id=): its team admins too, not its plain members.
    Action.TEAM_AUDIT_READ: Rule(gate=_ALL_USERS, everything=_READERS,
                                 relations=frozenset({Relation.TEAM_ADMIN})),
    Action.SPEND_TRACK: Rule(gate=_ADMIN, everything=_ADMIN),
    Action.MEMBER_MANAGE: Rule(gate=_USERS, everything=_ADMIN,
                               relations=frozenset({Relation.TEAM_ADMIN, Relation.SELF_JOIN})),
    Action.USER_CREATE: Rule(gate=_ADMIN, everything=_ADMIN),
    Action.USER_READ: Rule(gate=_ALL_USERS, everything=_READERS,
                           relations=frozenset({Relation.SELF})),
    # A user changes their own email and metadata; role, budget and models are the admins'
    # (USER_LIMIT_FIELDS). Viewers change nothing, their own row included.
    Action.USER_UPDATE: Rule(gate=_USERS, everything=_ADMIN,
                             relations=frozenset({Relation.SELF})),
    Action.USER_LIMITS: Rule(gate=_ADMIN, everything=_ADMIN),
    Action.USER_DELETE: Rule(gate=_ADMIN, everything=_ADMIN),
    Action.USERS_LIST: Rule(gate=_READERS, everything=_READERS),
    # A key of a team: its team admins, and its plain members as the team permits
    # (key_route_relations); a key of no team: a user for themself.
    Action.KEY_GENERATE: Rule(gate=_USERS, everything=_ADMIN,
                              relations=frozenset({Relation.SELF, Relation.TEAM_ADMIN,
                                                   Relation.PERMITTED_MEMBER})),
    # Any key may read itself, even one with no user and no team (LiteLLM's clients do).
    Action.KEY_READ: Rule(gate=_ALL_USERS | {TEAM_KEY, NO_IDENTITY}, everything=_READERS,
                          relations=frozenset({Relation.OWNER, Relation.KEY_ITSELF,
                                               Relation.TEAM_ADMIN, Relation.PERMITTED_MEMBER})),
    Action.KEY_DELETE: Rule(gate=_USERS, everything=_ADMIN,
                            relations=frozenset({Relation.OWNER, Relation.TEAM_ADMIN,
                                                 Relation.PERMITTED_MEMBER})),
    # key/update and key/regenerate: as delete (a move needs the relation to both teams).
    Action.KEY_UPDATE: Rule(gate=_USERS, everything=_ADMIN,
                            relations=frozenset({Relation.OWNER, Relation.TEAM_ADMIN,
                                                 Relation.PERMITTED_MEMBER})),
    Action.KEY_REGENERATE: Rule(gate=_USERS, everything=_ADMIN,
                                relations=frozenset({Relation.OWNER, Relation.TEAM_ADMIN,
                                                     Relation.PERMITTED_MEMBER})),
    # A key's budget, limits and block are set by whoever could generate it with them: for a
    # team's key its team admins (not a member, nor its owner), for a key of no team its
    # owner (SELF). KEY_LIMIT_FIELDS.
    Action.KEY_LIMITS: Rule(gate=_USERS, everything=_ADMIN,
                            relations=frozenset({Relation.TEAM_ADMIN, Relation.SELF})),
    # Everyone with a role lists keys; who does not read everything sees their own and their
    # teams' keys (key_route_relations with /key/list, per team).
    Action.KEYS_LIST: Rule(gate=_ALL_USERS, everything=_READERS),
    Action.TEAM_PERMISSIONS_READ: Rule(gate=_ALL_USERS, everything=_READERS,
                                       relations=frozenset({Relation.TEAM_ADMIN})),
}

# The key routes a team may open to its plain members (`team_member_permissions`; the wire
# models' KeyRoute), and what a team has until it says otherwise: its members read its keys.
KEY_ROUTES = ("/key/generate", "/key/update", "/key/delete", "/key/info", "/key/regenerate",
              "/key/list")
DEFAULT_MEMBER_PERMISSIONS = ("/key/info", "/key/list")


def member_permissions(team: dict[str, Any] | None) -> list[str]:
    """A team's `team_member_permissions` (teams stored before it was kept: the default)."""
    stored = (team or {}).get("team_member_permissions")
    return list(DEFAULT_MEMBER_PERMISSIONS if stored is None else stored)


def key_route_relations(route: str, member_role: str | None,
                        permissions: list[str]) -> set[Relation]:
    """The caller's relations, for a key route (one of KEY_ROUTES), to a key of a team in which
    the caller's role is `member_role` (None: not a member) and whose
    `team_member_permissions` are `permissions`: the team's admins may call every key route
    for its keys, its plain members those the team permits. Every key route's rule for a
    team's keys takes these (key/generate, info, delete, list here; key/update and
    key/regenerate take the same, with their route)."""
    if member_role == "admin":
        return {Relation.TEAM_ADMIN}
    if member_role and route in permissions:
        return {Relation.PERMITTED_MEMBER}
    return set()


# The fields of POST /team/update that are TEAM_LIMITS: 403 for a team admin who would change
# one (sending it as it is changes nothing, and is not refused).
TEAM_LIMIT_FIELDS = ("max_budget", "budget_duration", "tpm_limit", "rpm_limit",
                     "max_parallel_requests")
# The fields of POST /user/update that are USER_LIMITS: 403 for a user changing their own
# (sending one with its current value changes nothing, and is not refused).
USER_LIMIT_FIELDS = ("user_role", "max_budget", "budget_duration", "models")
# The fields of POST /key/update and /key/regenerate that are KEY_LIMITS (the same way).
KEY_LIMIT_FIELDS = ("max_budget", "budget_duration", "tpm_limit", "rpm_limit", "blocked")


def caller_kind(caller: Caller) -> str:
    if caller.role:
        return caller.role
    return TEAM_KEY if caller.team_id else NO_IDENTITY


def check_gate(caller: Caller, action: Action) -> None:
    check_route(caller)
    if caller_kind(caller) not in RULES[action].gate:
        raise Forbidden(f"Your key is not allowed to {action.value}.")


def check_route(caller: Caller) -> None:
    """A key generated with `allowed_routes` calls those routes only, whatever its role."""
    if not caller.may_call_route():
        raise Forbidden(f"This key may only call {', '.join(caller.allowed_routes)}.")


def check_gateway(caller: Caller) -> None:
    """The per-call routes (/spend/reserve, settle, release): admins, and keys whose
    `allowed_routes` name the route (a gateway's key, so no gateway host holds an admin key)."""
    check_route(caller)
    if not (caller.is_admin or caller.allowed_routes):
        raise Forbidden("Only admins and keys limited to the /spend/* routes may call this.")


def check_known(caller: Caller, action: Action, exists: bool, what: str) -> None:
    """Unknown objects: admins and viewers learn it, others are refused like any stranger."""
    if exists:
        return
    if caller.reads_everything:
        raise NotFound(f"{what} not found")
    raise Forbidden(f"Your key is not allowed to {action.value}.")


def authorize(caller: Caller, action: Action, *, exists: bool = True, what: str = "Object",
              relations: frozenset[Relation] | set[Relation] = frozenset()) -> None:
    rule = RULES[action]
    check_gate(caller, action)
    check_known(caller, action, exists, what)
    if caller_kind(caller) in rule.everything or rule.relations & set(relations):
        return
    raise Forbidden(f"Your key is not allowed to {action.value}.")


def team_relations(caller: Caller, team_id: str, member_role: str | None) -> set[Relation]:
    """The caller's relations to a team, from its own key and its member item (if any)."""
    relations = set()
    if caller.team_id == team_id:
        relations.add(Relation.TEAM_KEY)
    if member_role == "admin":
        relations |= {Relation.TEAM_ADMIN, Relation.TEAM_MEMBER}
    elif member_role:
        relations.add(Relation.TEAM_MEMBER)
    return relations


def self_join(caller: Caller, team_id: str, members: "list[Member]",
              budgeted: bool) -> set[Relation]:
    """Self-join: any user may add themselves (own user_id, role `user`, no budget) to a team
    listed in AVAILABLE_TEAMS. Anything more than that needs a team admin."""
    if budgeted or len(members) != 1 or team_id not in settings().available_teams:
        return set()
    member = members[0]
    if caller.user_id and member.user_id == caller.user_id and member.role == "user":
        return {Relation.SELF_JOIN}
    return set()


def may_list_teams_of(caller: Caller, user_id: str | None) -> bool:
    """GET /team/list: everything for admins and viewers; others only with user_id = self."""
    return caller.reads_everything or (bool(user_id) and user_id == caller.user_id)
