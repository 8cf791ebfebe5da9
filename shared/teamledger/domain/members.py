"""Who is in a team: add members (all or nothing, or in bulk each on its own), remove one,
change one's role and membership budget.

The member items are the truth; the same transaction updates the team's roster item (a
bounded copy for the list routes) on condition that the team is active and that the roster
still has the room the request reckoned (TeamStore.add_to_roster).
"""

import uuid
from typing import Any

from teamledger import sizes
from teamledger.domain import directory
from teamledger.domain.callers import Actor
from teamledger.domain.directory import ResolvedMember
from teamledger.domain.keys import delete_key
from teamledger.domain.memberships import (
    BudgetPlan,
    add_member,
    already_in,
    delete_member,
    member_values,
    update_member,
)
from teamledger.domain.policy import Action, self_join
from teamledger.domain.teams import load_for
from teamledger.domain.views import membership, to_team, user_public
from teamledger.errors import BadRequest, Busy, NotFound, TransactionCancelled
from teamledger.http.models import (
    MAX_MEMBERS_PER_ADD,
    BulkMemberAddRequest,
    BulkMemberResult,
    BulkMembersAdded,
    Member,
    MemberAdded,
    MemberAddRequest,
    MemberDeleteRequest,
    MemberUpdated,
    MemberUpdateRequest,
    Team,
    User,
)
from teamledger.store import stores
from teamledger.store.refs import KeyRef
from teamledger.store.retry import attempts, retry
from teamledger.store.teams import RosterChanged, TeamView
from teamledger.timestamps import to_iso, utcnow

Item = dict[str, Any]
BULK_MAX = 500
BULK_CHUNK = MAX_MEMBERS_PER_ADD  # as many as one member_add: one transaction each
BUSY = "Too many concurrent changes to this team; please retry"
# A transaction holds 100 items and 4 MB. Removing a member writes 5 items (the team's active
# check, its roster, the member item, its counter, its record); each key that goes with it 3
# (the key, its counter, its record), and one more object (an item and its record, each at
# most an item's size) must still fit after a transaction's first writes.
KEYS_WITH_MEMBER = (100 - 5) // 3  # 31: the most keys in the member's own transaction
KEYS_PER_TRANSACTION = 100 // 3  # 33: the most keys in each transaction before it
ROOM_BYTES = sizes.TRANSACTION_BYTES - 2 * sizes.ITEM_BYTES


def _commit_adds(actor: Actor, team: Item, members: list[ResolvedMember], budget: BudgetPlan,
                 first_order: int = 0) -> list[Item]:
    """One transaction: the team still active, new users' rows, the member items, an audit
    record for each. A member already in is a 400 naming them; a team gone is a 404; other lost
    races (a user row that appeared meanwhile, a conflict) raise TransactionCancelled."""
    team_id = team["team_id"]
    now = utcnow()
    stamp = to_iso(now)
    tx = stores().transaction()
    directory.add_missing_users(tx, actor, members, stamp)
    items = [member_values(team_id, m.user_id, m.user_email, m.role, stamp, first_order + n,
                           budget=budget.for_member(now))
             for n, m in enumerate(members)]
    stores().teams.add_to_roster(tx, team, items, refusal=NotFound(f"Team {team_id} not found"))
    for item in items:
        add_member(tx, actor, item)
    tx.commit()
    return items


# --- member_add --------------------------------------------------------------------------

def add_members(actor: Actor, request: MemberAddRequest) -> MemberAdded:
    members = request.member if isinstance(request.member, list) else [request.member]
    budgeted = request.max_budget_in_team is not None or request.budget_duration is not None
    joining = self_join(actor.caller, request.team_id, members, budgeted)
    view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id, extra=joining)
    budget = BudgetPlan.checked(request.max_budget_in_team, request.budget_duration)

    def attempt() -> MemberAdded:
        resolved = directory.resolve_members(members)
        if joining and not actor.caller.is_admin:
            _own_email_only(members[0], resolved[0])
        present = next((m for m in resolved if view.member(m.user_id)), None)
        if present:
            raise already_in(present.user_id)
        # Read before the commit: add_missing_users fills in the rows it creates.
        teams_of = {m.user_id: stores().members.team_ids_of(m.user_id)
                    for m in resolved if m.user}
        items = _commit_adds(actor, view.team, resolved, budget)
        return _member_added(view, resolved, items, teams_of)

    return retry(attempt, BUSY)


def _own_email_only(member: Member, resolved: ResolvedMember) -> None:
    """A self-join names the caller's own email or none: resolving refused anyone else's
    already; a caller without a user row yet has no email to name."""
    if member.user_email and resolved.user is None:
        raise BadRequest("On self-join, user_email must be your own email, or left out")


def _member_added(view: TeamView, resolved: list[ResolvedMember], items: list[Item],
                  teams_of: dict[str, list[str]]) -> MemberAdded:
    team = to_team(TeamView(view.team, view.members + items))
    updated_users = [User(**user_public(m.user or {}), teams=list(dict.fromkeys(
        [*teams_of.get(m.user_id, []), view.team_id]))) for m in resolved]
    return MemberAdded(**team.model_dump(), updated_users=updated_users,
                       updated_team_memberships=[membership(i) for i in items])


# --- bulk_member_add ---------------------------------------------------------------------

Outcome = ResolvedMember | BadRequest | Item


def bulk_add_members(actor: Actor, request: BulkMemberAddRequest) -> BulkMembersAdded:
    view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id)
    members = request.members
    if not members:
        raise BadRequest("Pass at least one member in members")
    if len(members) > BULK_MAX:
        raise BadRequest(f"At most {BULK_MAX} members can be added at once; got {len(members)}")
    budget = BudgetPlan.checked(request.max_budget_in_team)
    outcomes: list[Outcome] = [
        already_in(o.user_id) if isinstance(o, ResolvedMember) and view.member(o.user_id)
        else o for o in directory.resolve_each(members)]
    pending = [n for n, o in enumerate(outcomes) if isinstance(o, ResolvedMember)]
    for start in range(0, len(pending), BULK_CHUNK):
        _add_chunk(actor, view.team, members, outcomes, pending[start:start + BULK_CHUNK],
                   budget)
    added = [o for o in outcomes if isinstance(o, dict)]
    results = [_result(member, outcome) for member, outcome in zip(members, outcomes,
                                                                   strict=True)]
    return BulkMembersAdded(
        team_id=view.team_id, results=results, total_requested=len(members),
        successful_additions=len(added), failed_additions=len(members) - len(added),
        updated_team=to_team(TeamView(view.team, view.members + added)))


def _add_chunk(actor: Actor, team: Item, members: list[Member], outcomes: list[Outcome],
               chunk: list[int], budget: BudgetPlan) -> None:
    """Commit a chunk at once (again if only the roster's room changed meanwhile: the team's
    roster is read again then, and the chunk reckons anew); if that fails, each of its members
    alone, so that only the members that really cannot be added fail. Records each member item
    or error in `outcomes`."""
    resolved = [o for o in (outcomes[n] for n in chunk) if isinstance(o, ResolvedMember)]
    try:
        items = _commit_chunk(actor, team, resolved, budget, chunk[0])
    except (TransactionCancelled, BadRequest):
        for n in chunk:
            outcomes[n] = _add_alone(actor, team, members[n], budget, n)
        return
    for n, item in zip(chunk, items, strict=True):
        outcomes[n] = item


def _commit_chunk(actor: Actor, team: Item, members: list[ResolvedMember], budget: BudgetPlan,
                  first_order: int) -> list[Item]:
    changed = RosterChanged([])
    for _ in attempts():
        try:
            return _commit_adds(actor, team, members, budget, first_order)
        except RosterChanged as error:
            changed = error  # the roster was read again: reckon anew
    raise changed  # every round lost the roster's room: the members one by one, then


def _add_alone(actor: Actor, team: Item, member: Member, budget: BudgetPlan,
               order: int) -> Item | BadRequest:
    def attempt() -> Item | BadRequest:
        # Resolved afresh: the failed chunk may have counted on user rows it never wrote.
        resolved = directory.resolve_each([member])[0]
        if isinstance(resolved, BadRequest):
            return resolved
        try:
            return _commit_adds(actor, team, [resolved], budget, order)[0]
        except BadRequest as error:
            return error

    try:
        return retry(attempt, BUSY)
    except Busy:
        return BadRequest("Too many concurrent changes to this team; please retry this member")


def _result(member: Member, outcome: Outcome) -> BulkMemberResult:
    if isinstance(outcome, dict):
        return BulkMemberResult(user_id=outcome["user_id"], user_email=outcome.get("user_email"),
                                success=True)
    error = outcome.message if isinstance(outcome, BadRequest) else "Not added"
    return BulkMemberResult(user_id=member.user_id, user_email=member.user_email, success=False,
                            error=error)


# --- member_delete, member_update --------------------------------------------------------

def _member_named(view: TeamView, user_id: str | None, user_email: str | None) -> Item:
    if user_id:
        found = [m for m in view.members if m["user_id"] == user_id]
    elif user_email:
        found = [m for m in view.members
                 if (m.get("user_email") or "").lower() == user_email.lower()]
    else:
        raise BadRequest("Pass the member's user_id or user_email")
    if len(found) > 1:
        raise BadRequest(f"More than one member has the email {user_email}; "
                         "pass the member's user_id instead")
    if not found:
        raise BadRequest(f"User {user_id or user_email} is not a member of team {view.team_id}")
    return found[0]


def remove_member(actor: Actor, request: MemberDeleteRequest) -> Team:
    """Removes the member item (its membership budget and the user's link go with it) and the
    user's keys of that team, each audited, in one transaction. A member with more keys than
    that holds loses them first, in transactions of their own, and goes in the last one, so
    nobody is ever out of the team with one of its keys still working."""
    def attempt() -> Team:
        view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id)
        item = _member_named(view, request.user_id, request.user_email)
        tx, batch = stores().transaction(), 0
        for key in _keys_of_member(view.team_id, item["user_id"]):
            if batch == KEYS_PER_TRANSACTION or tx.size > ROOM_BYTES:
                tx.commit()  # a key deleted meanwhile: read again (these are gone for good)
                tx, batch = stores().transaction(), 0
            delete_key(tx, actor, key)
            batch += 1
        if batch > KEYS_WITH_MEMBER or tx.size > ROOM_BYTES:
            tx.commit()
            tx = stores().transaction()
        stores().teams.remove_from_roster(tx, view.team_id, item["user_id"])
        delete_member(tx, actor, item)
        tx.commit()  # removed, or the team deleted, meanwhile: the next read tells which
        rest = [m for m in view.members if m["user_id"] != item["user_id"]]
        return to_team(TeamView(view.team, rest))

    return retry(attempt, BUSY)


def _keys_of_member(team_id: str, user_id: str) -> list[Item]:
    """The user's keys of the team, as they are now: found on the user's index (eventually
    consistent), then read (consistently, with their spend for the audit records), so a key
    deleted a moment ago is not deleted again."""
    tokens = stores().keys.of_member(team_id, user_id)
    found = stores().items.read(KeyRef(t) for t in tokens)
    return [found[KeyRef(t)] for t in tokens if KeyRef(t) in found
            and found[KeyRef(t)].get("team_id") == team_id
            and found[KeyRef(t)].get("user_id") == user_id]


def _member_changes(item: Item, request: MemberUpdateRequest, budget: BudgetPlan) -> Item:
    changes: Item = {}
    if request.role is not None:
        changes["role"] = request.role
    if request.max_budget_in_team is not None:
        changes["max_budget"] = request.max_budget_in_team
    if budget.period and request.budget_duration != item.get("budget_duration"):
        # A new period starts now, on its own grid, with nothing spent in it yet.
        reset_at = to_iso(budget.period.first_reset(utcnow()))
        changes |= {"budget_duration": request.budget_duration, "budget_reset_at": reset_at,
                    "budget_anchor": reset_at, "spend": 0.0}
    if {"max_budget", "budget_duration"} & changes.keys() and not item.get("budget_id"):
        changes["budget_id"] = str(uuid.uuid4())
    return changes


def change_member(actor: Actor, request: MemberUpdateRequest) -> MemberUpdated:
    """Role and membership budget, created or changed in place; read, check, write with the
    member's version as the condition, so a lost race starts again from the read."""
    def attempt() -> MemberUpdated:
        view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id)
        budget = BudgetPlan.checked(request.max_budget_in_team, request.budget_duration)
        item = _member_named(view, request.user_id, request.user_email)
        changes = _member_changes(item, request, budget)
        tx = stores().transaction()
        if changes.get("role", item["role"]) != item["role"]:
            stores().teams.set_roster_role(tx, view.team, item["user_id"], changes["role"])
        else:
            stores().teams.check_active(tx, view.team_id)
        new = update_member(tx, actor, item, changes)
        if new is not item:  # a change that changes nothing writes nothing
            tx.commit()
        return MemberUpdated(user_id=new["user_id"], user_email=new.get("user_email"),
                             team_id=view.team_id, max_budget_in_team=new.get("max_budget"))

    return retry(attempt, "Too many concurrent changes to this member; please retry")
