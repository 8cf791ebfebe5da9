"""The team lifecycle: create, read, update, block, delete (lists: team_lists.py)."""

import uuid
from collections.abc import Callable
from typing import Any

from teamledger import cursors, sizes
from teamledger.config import settings
from teamledger.domain import audit, directory, limits
from teamledger.domain.callers import Actor, Caller
from teamledger.domain.keys import delete_key
from teamledger.domain.memberships import add_member, delete_member, member_values
from teamledger.domain.policy import (
    KEY_ROUTES,
    TEAM_LIMIT_FIELDS,
    Action,
    Relation,
    authorize,
    check_gate,
    member_permissions,
    team_relations,
)
from teamledger.domain.team_access import authorize_by_gate
from teamledger.domain.views import listed_key, member_public, membership, team_public, to_team
from teamledger.errors import BadRequest, Busy, TransactionCancelled
from teamledger.http.models import (
    Member,
    MemberOut,
    Team,
    TeamDeleteRequest,
    TeamInfo,
    TeamMembersPage,
    TeamModelsRequest,
    TeamNewRequest,
    TeamPatchRequest,
    TeamPermissions,
    TeamPermissionsRequest,
    TeamsDeleted,
    TeamUpdated,
    TeamUpdateRequest,
)
from teamledger.store import stores
from teamledger.store.refs import MemberRef, TeamRef
from teamledger.store.retry import retry
from teamledger.store.teams import ACTIVE, TeamView
from teamledger.timestamps import to_iso, utcnow

Item = dict[str, Any]
FEW_MEMBERS = 20  # team/info: up to this many, their counters are read one by one
MEMBERS_PAGE = 1000  # team/info and team/members: members per answer (3.6 MB at most)
TOO_MANY_KEYS = (f"this team's keys would answer more than {sizes.TEAM_KEYS_ANSWER_BYTES:,} "
                 "bytes; list them with GET /key/list?team_id=...&return_full_object=true, "
                 "which pages")
CLEANUP_BATCH = 32  # three items each (delete, its counter, audit), plus the team, its
# counter and its spend-order place: 99 of 100
# A batch also ends once its writes are this large: one more object (its item and its record,
# each at most an item's 400 KB) and the team's own deletes still fit a transaction's 4 MB.
CLEANUP_BYTES = sizes.TRANSACTION_BYTES - 3 * sizes.ITEM_BYTES
CLEANUP_ROUNDS = 5  # fresh looks after lost races; each look deletes all it found
MAX_TEAM_MODELS = 1000  # as many as /team/new and /team/update accept
UPDATABLE = ("team_alias", "organization_id", "metadata", "tpm_limit", "rpm_limit",
             "max_parallel_requests", "max_budget", "models", "blocked",
             "team_member_permissions")
BUSY = "Too many concurrent changes to this team; please retry"
# Whose block a blocked team's is (kept on the team item, not in its answers): an admin's,
# lifted by admins only, or its team admin's.
BLOCKED_BY, ADMIN_BLOCK, TEAM_ADMIN_BLOCK = "blocked_by", "proxy_admin", "team_admin"


def _metadata(base: Item | None, request: TeamNewRequest | TeamUpdateRequest) -> Item:
    """tags and guardrails live inside metadata."""
    metadata = dict(base or {})
    for name in ("tags", "guardrails"):
        if getattr(request, name, None) is not None:
            metadata[name] = getattr(request, name)
    return metadata


def _model_table(aliases: Item | None) -> Item | None:
    return {"model_aliases": aliases} if aliases else None


def _members_of_new_team(caller: Caller, request: TeamNewRequest) -> list[Member]:
    members = list(request.members_with_roles)
    if caller.user_id and all(m.user_id != caller.user_id for m in members):
        members.insert(0, Member(user_id=caller.user_id, role="admin"))
    return members


def create_team(actor: Actor, request: TeamNewRequest) -> Team:
    authorize(actor.caller, Action.TEAM_CREATE)
    limits.check_numbers(request)
    period = limits.parse_duration(request.budget_duration)
    limits.check_json_sizes(metadata=_metadata(request.metadata, request),
                            model_aliases=request.model_aliases, models=request.models)
    team_id = request.team_id or str(uuid.uuid4())

    def attempt() -> Team:
        members = directory.resolve_members(_members_of_new_team(actor.caller, request))
        now = utcnow()
        stamp = to_iso(now)
        reset_at = to_iso(period.first_reset(now)) if period else None
        team = {
            "team_id": team_id, "team_alias": request.team_alias,
            "organization_id": request.organization_id,
            "metadata": _metadata(request.metadata, request), "tpm_limit": request.tpm_limit,
            "rpm_limit": request.rpm_limit, "max_parallel_requests": request.max_parallel_requests,
            "max_budget": request.max_budget, "budget_duration": request.budget_duration,
            "budget_reset_at": reset_at, "budget_anchor": reset_at, "models": request.models,
            "blocked": request.blocked, "spend": 0.0,
            "team_member_permissions": member_permissions(
                {"team_member_permissions": request.team_member_permissions}),
            BLOCKED_BY: ADMIN_BLOCK if request.blocked else None,
            "litellm_model_table": _model_table(request.model_aliases), "model_id": None,
            "created_at": stamp, "updated_at": stamp,
        }
        member_items = [member_values(team_id, m.user_id, m.user_email, m.role, stamp, order)
                        for order, m in enumerate(members)]
        tx = stores().transaction()
        stores().teams.put_new(tx, team, member_items,
                               refusal=BadRequest(f"Team id {team_id} already exists"))
        audit.record(tx, actor, audit.CREATED, audit.TEAM_TABLE, audit.object_id(team_id), None,
                     team_public(team) | {"members_with_roles": [
                         member_public(m) for m in member_items]}, team_id=team_id)
        directory.add_missing_users(tx, actor, members, stamp)
        for member in member_items:
            add_member(tx, actor, member)
        tx.commit()  # a lost race: a user row appeared or changed meanwhile; resolve again
        return to_team(TeamView({k: v for k, v in team.items() if v is not None}, member_items))

    return retry(attempt, "Too many concurrent changes; please retry")


def load_for(caller: Caller, action: Action, team_id: str,
             extra: set[Relation] | frozenset[Relation] = frozenset()) -> TeamView:
    """The team, once the caller may do `action` to it (`extra`: relations the request
    itself gives, such as a self-join)."""
    check_gate(caller, action)
    view = stores().teams.load(team_id)
    relations = team_relations(caller, team_id, view.role_of(caller.user_id) if view else None)
    authorize(caller, action, exists=view is not None, what=f"Team {team_id}",
              relations=relations | set(extra))
    assert view is not None  # authorize refused an unknown team
    return view


def available_teams(actor: Actor) -> list[Team]:
    """The teams of AVAILABLE_TEAMS the caller is not in."""
    caller = actor.caller
    authorize(caller, Action.TEAMS_AVAILABLE)
    team_ids = sorted(settings().available_teams)
    joined = stores().members.roles_of(caller.user_id, set(team_ids))
    return [to_team(v) for v in stores().teams.listed([t for t in team_ids if t not in joined])]


def team_info(actor: Actor, team_id: str) -> TeamInfo:
    """The team with its keys and its first MEMBERS_PAGE members by user id (the partition's
    order), and a cursor to the rest (GET /team/members) when there are more."""
    view = load_for(actor.caller, Action.TEAM_READ, team_id)
    members = view.members[:MEMBERS_PAGE]
    key_items = stores().keys.of_team(team_id, spend=False)
    if sum(sizes.answer_size(k) for k in key_items) > sizes.TEAM_KEYS_ANSWER_BYTES:
        raise BadRequest(TOO_MANY_KEYS)
    if len(members) <= FEW_MEMBERS:  # members' and keys' spend in one BatchGetItem
        stores().counters.fill(members + key_items)
    else:  # a BatchGetItem bills a read unit per item: their partition's Query is cheaper
        stores().counters.fill_members(team_id, members)
        stores().counters.fill(key_items)
    keys = [listed_key(k) for k in key_items]
    more = len(view.members) > MEMBERS_PAGE
    return TeamInfo(team_id=team_id, team_info=to_team(TeamView(view.team, members)), keys=keys,
                    team_memberships=[membership(m) for m in members],
                    members_next_cursor=_members_cursor(team_id, members[-1]) if more else None)


def team_members(actor: Actor, team_id: str, cursor: str | None) -> TeamMembersPage:
    """GET /team/members: the next MEMBERS_PAGE members after the cursor's (from the first
    without one), as /team/info shows them. Whoever may read the team may page its members;
    the team item and the caller's member item decide it, not the whole partition."""
    check_gate(actor.caller, Action.TEAM_READ)
    after = _members_after(team_id, cursor) if cursor else None
    authorize_by_gate(actor.caller, Action.TEAM_READ, team_id)
    members, more = stores().members.page_of(team_id, after, MEMBERS_PAGE)
    stores().counters.fill_members(team_id, members)
    ordered = sorted(members, key=lambda m: (m.get("joined_at", ""), m.get("join_order", 0)))
    return TeamMembersPage(
        team_id=team_id, members=[MemberOut(**member_public(m)) for m in ordered],
        team_memberships=[membership(m) for m in members],
        next_cursor=_members_cursor(team_id, members[-1]) if more and members else None)


def _members_cursor(team_id: str, last: Item) -> str:
    return cursors.encode([1, team_id, last["user_id"]])


def _members_after(team_id: str, cursor: str) -> str:
    """The user id a /team/members cursor starts after (400 for anything else)."""
    values = cursors.decode(cursor)
    if values is None or len(values) != 3 or values[0] != 1 or not isinstance(values[2], str) \
            or not 0 < sizes.utf8_size(values[2]) <= sizes.ID_BYTES:
        raise BadRequest("cursor is not a members_next_cursor or next_cursor this service "
                         "returned")
    if values[1] != team_id:
        raise BadRequest("cursor belongs to another team; send the team_id it came with")
    return str(values[2])


def _planned_changes(team: Item, request: TeamUpdateRequest) -> Item:
    sent = request.model_fields_set
    changes = {f: getattr(request, f) for f in UPDATABLE
               if f in sent and not (f in ("blocked", "models", "team_member_permissions")
                                     and getattr(request, f) is None)}
    if "metadata" in changes or request.tags is not None or request.guardrails is not None:
        base = changes["metadata"] if "metadata" in changes else team.get("metadata")
        changes["metadata"] = _metadata(base, request)
    if "model_aliases" in sent:
        changes["litellm_model_table"] = _model_table(request.model_aliases)
    if "budget_duration" in sent and request.budget_duration != team.get("budget_duration"):
        period = limits.parse_duration(request.budget_duration)
        reset_at = to_iso(period.first_reset(utcnow())) if period else None
        changes |= {"budget_duration": request.budget_duration, "budget_reset_at": reset_at,
                    "budget_anchor": reset_at}
        if period:
            changes["spend"] = 0.0
    return changes


def _apply(actor: Actor, view: TeamView, changes: Item, action: str) -> Item:
    """Write the fields that really change, with their audit record; returns the new item."""
    team = view.team
    before, after = audit.changed_fields(team, changes)
    if not after:
        return team
    tx = stores().transaction()
    new = stores().teams.update(tx, team, after | {"updated_at": to_iso(utcnow())})
    audit.record(tx, actor, action, audit.TEAM_TABLE, audit.object_id(team["team_id"]),
                 {k: v for k, v in before.items() if k != "budget_anchor"},
                 {k: v for k, v in after.items() if k != "budget_anchor"},
                 team_id=team["team_id"])
    tx.commit()
    return new


def _change_team(actor: Actor, team_id: str, plan: Callable[[Item], Item],
                 action_of: Callable[[Item], str]) -> TeamView:
    """Read, check, write with a version condition; a lost race starts again from the read."""
    def attempt() -> TeamView:
        view = load_for(actor.caller, Action.TEAM_MANAGE, team_id)
        changes = plan(view.team)
        view.team = _apply(actor, view, changes, action_of(changes))
        return view

    return retry(attempt, BUSY)


def update_team(actor: Actor, request: TeamUpdateRequest) -> TeamUpdated:
    def plan(team: Item) -> Item:
        _check_team_limits(actor.caller, team, request)  # 403 before any 400 of the values
        limits.check_numbers(request)
        changes = _planned_changes(team, request)
        limits.check_json_sizes(metadata=changes.get("metadata"), models=changes.get("models"),
                                model_aliases=request.model_aliases)
        if "blocked" in changes:
            changes |= _block(actor.caller, team, changes["blocked"])
        return changes

    view = _change_team(actor, request.team_id, plan, lambda changes: audit.UPDATED)
    return TeamUpdated(team_id=request.team_id, data=to_team(view))


def patch_team(actor: Actor, team_id: str, request: TeamPatchRequest) -> Team:
    """PATCH /team/{team_id}: /team/update for the path's team (a body naming another team
    is a 400); the answer is the Team, as LiteLLM's."""
    check_gate(actor.caller, Action.TEAM_MANAGE)
    if request.team_id is not None and request.team_id != team_id:
        raise BadRequest(f"team_id in the body ({request.team_id}) is not the path's "
                         f"({team_id})")
    # Only the fields sent: /team/update tells a field sent as null from one left out.
    sent = request.model_dump(include=request.model_fields_set - {"team_id"})
    return update_team(actor, TeamUpdateRequest.model_validate(sent | {"team_id": team_id})).data


def _permissions(team: Item) -> TeamPermissions:
    return TeamPermissions(team_id=team["team_id"],
                           team_member_permissions=member_permissions(team),
                           all_available_permissions=list(KEY_ROUTES))


def team_permissions(actor: Actor, team_id: str) -> TeamPermissions:
    """GET /team/permissions_list: the key routes the team's plain members may call."""
    return _permissions(load_for(actor.caller, Action.TEAM_PERMISSIONS_READ, team_id).team)


def update_permissions(actor: Actor, request: TeamPermissionsRequest) -> TeamPermissions:
    """POST /team/permissions_update: an update of the team (one record, none if unchanged)."""
    routes = request.team_member_permissions
    view = _change_team(actor, request.team_id,
                        lambda team: {"team_member_permissions": routes},
                        lambda changes: audit.UPDATED)
    return _permissions(view.team)


def _check_team_limits(caller: Caller, team: Item, request: TeamUpdateRequest) -> None:
    """A team admin may not change the team's budget or limits (TEAM_LIMIT_FIELDS; sending
    one as it is changes nothing), nor lift an admin's block."""
    sent = request.model_fields_set
    if any(f in sent and getattr(request, f) != team.get(f) for f in TEAM_LIMIT_FIELDS):
        authorize(caller, Action.TEAM_LIMITS)
    if "blocked" in sent and request.blocked is False:
        _block(caller, team, False)


def _block(caller: Caller, team: Item, blocked: bool) -> Item:
    """`blocked`, and whose block it is (BLOCKED_BY): an admin's (or one from before that was
    kept) is lifted by admins only, a team admin's by either; an admin blocking a blocked team
    makes the block the admin's."""
    if not blocked:
        if team.get("blocked") and team.get(BLOCKED_BY) != TEAM_ADMIN_BLOCK:
            authorize(caller, Action.TEAM_LIFT_ADMIN_BLOCK)
        return {"blocked": False, BLOCKED_BY: None}
    if caller.is_admin:
        return {"blocked": True, BLOCKED_BY: ADMIN_BLOCK}
    if team.get("blocked"):
        return {"blocked": True}  # whoever blocked it still did
    return {"blocked": True, BLOCKED_BY: TEAM_ADMIN_BLOCK}


def set_blocked(actor: Actor, team_id: str, blocked: bool) -> Team:
    action = audit.BLOCKED if blocked else audit.UNBLOCKED
    view = _change_team(actor, team_id, lambda team: _block(actor.caller, team, blocked),
                        lambda _: action)
    return to_team(view)


def add_models(actor: Actor, request: TeamModelsRequest) -> Team:
    def plan(team: Item) -> Item:
        # Order kept: the team's models first, then the new ones as named, each once.
        models = list(dict.fromkeys([*(team.get("models") or []), *request.models]))
        if len(models) > MAX_TEAM_MODELS:
            raise BadRequest(f"A team can have at most {MAX_TEAM_MODELS} models")
        limits.check_json_sizes(models=models)
        return {"models": models}

    return to_team(_change_team(actor, request.team_id, plan, lambda _: audit.UPDATED))


def delete_models(actor: Actor, request: TeamModelsRequest) -> Team:
    named = set(request.models)

    def plan(team: Item) -> Item:
        return {"models": [m for m in team.get("models") or [] if m not in named]}

    return to_team(_change_team(actor, request.team_id, plan, lambda _: audit.UPDATED))


# --- delete ------------------------------------------------------------------------------

def delete_teams(actor: Actor, request: TeamDeleteRequest) -> TeamsDeleted:
    """Every id is checked first; then the teams vanish at once (one transaction) and each
    one's members and keys are cleaned up."""
    caller = actor.caller
    check_gate(caller, Action.TEAM_MANAGE)
    team_ids = list(dict.fromkeys(request.team_ids))
    refs: list[TeamRef | MemberRef] = [TeamRef(t) for t in team_ids]
    if caller.user_id and not caller.is_admin:
        refs += [MemberRef(t, caller.user_id) for t in team_ids]
    found = stores().items.read(refs)
    teams = {r.team_id: i for r, i in found.items() if isinstance(r, TeamRef)}
    roles = {r.team_id: i["role"] for r, i in found.items() if isinstance(r, MemberRef)}
    for team_id in team_ids:
        authorize(caller, Action.TEAM_MANAGE, exists=team_id in teams, what=f"Team {team_id}",
                  relations=team_relations(caller, team_id, roles.get(team_id)))
    _mark_deleting(actor, [teams[t] for t in team_ids])
    for team_id in team_ids:
        cleanup_team(actor, team_id)
    return TeamsDeleted(deleted_teams=team_ids)


def _mark_deleting(actor: Actor, teams: list[Item]) -> None:
    """The teams vanish from every read, their keys stop authenticating: as few transactions
    as hold them (a team's mark, its alias words and its record; the counter once each), in
    order. A failure midway leaves the earlier teams deleting; the request again finishes."""
    active = [t for t in teams if t.get("status") == ACTIVE]
    now = to_iso(utcnow())
    while active:  # empty: an earlier delete got this far, only the cleanup is left
        tx, marked = stores().transaction(), 0
        while marked < len(active) and (marked == 0 or len(tx) + 2 + stores().teams.mark_writes(
                active[marked]) <= sizes.TRANSACTION_ITEMS):
            team = active[marked]
            stores().teams.mark_deleting(tx, team, now)
            audit.record(tx, actor, audit.DELETED, audit.TEAM_TABLE,
                         audit.object_id(team["team_id"]), team_public(team), None,
                         team_id=team["team_id"])
            marked += 1
        stores().teams.count(tx, -marked)
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            raise Busy("These teams changed while being deleted; please retry") from cancelled
        active = active[marked:]


def cleanup_team(actor: Actor | None, team_id: str) -> None:
    """Delete a deleting team's members and keys in bounded transactions; the last one also
    deletes the team item. Idempotent: what a crashed or concurrent run already removed is
    simply not found when the next run (or this one, after a lost race) looks again."""
    def attempt() -> None:
        view = stores().teams.load(team_id, include_deleting=True)
        if view is None:
            return  # gone: this or a concurrent cleanup finished the job
        found = [("member", m) for m in view.members] + [
            ("key", k) for k in stores().keys.of_team(team_id)]
        tx, batch = stores().transaction(), 0
        for kind, item in found:
            if batch == CLEANUP_BATCH or tx.size > CLEANUP_BYTES:
                tx.commit()
                tx, batch = stores().transaction(), 0
            (delete_key if kind == "key" else delete_member)(tx, actor, item)
            batch += 1
        stores().teams.delete_deleting(tx, team_id)
        tx.commit()

    retry(attempt, f"Team {team_id} is still being deleted; repeat the request to finish",
          limit=CLEANUP_ROUNDS)
