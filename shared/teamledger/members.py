"""Who is in a team: add members (all or nothing, or in bulk each on its own), remove one,
change one's role and membership budget.

A member is an item of its own in the team's partition, so an add is a conditional put: two
concurrent adds never lose each other, and a member added twice is refused by DynamoDB
itself. The same transaction updates the roster on the team item (a bounded copy for the list
routes) on condition that the team is active; the member item stays the truth.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from teamledger import db, limits, teamstore, users
from teamledger.auth import Actor
from teamledger.durations import BudgetPeriod
from teamledger.errors import BadRequest, Busy, NotFound
from teamledger.models import (
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
from teamledger.policy import Action, self_join
from teamledger.teams import load_for
from teamledger.teamstore import TeamView
from teamledger.timestamps import to_iso, utcnow
from teamledger.users import ResolvedMember

BULK_MAX = 500
BULK_CHUNK = MAX_MEMBERS_PER_ADD  # as many as one member_add: one transaction each


@dataclass(frozen=True)
class BudgetPlan:
    """The membership budget a request gives each member it adds (each gets its own id)."""

    max_budget: float | None = None
    duration: str | None = None
    period: BudgetPeriod | None = None

    @classmethod
    def checked(cls, max_budget: float | None, duration: str | None = None) -> "BudgetPlan":
        limits.check_budget("max_budget_in_team", max_budget)
        return cls(max_budget, duration, limits.parse_duration(duration))

    def for_member(self, now: datetime) -> dict | None:
        if self.max_budget is None and self.duration is None:
            return None
        reset_at = to_iso(self.period.first_reset(now)) if self.period else None
        return teamstore.new_budget(self.max_budget, self.duration, reset_at)


def _already_in(user_id: str) -> BadRequest:
    # Names this member only: the rest of the roster is none of the caller's business here.
    return BadRequest(f"User {user_id} is already a member of this team")


def _commit_adds(actor: Actor, team: dict, members: list[ResolvedMember], budget: BudgetPlan,
                 first_order: int = 0) -> list[dict]:
    """One transaction: the team still active, new users' rows, the member items, an audit
    record for each. A member already in is a 400 naming them; other lost races (a user row
    that appeared meanwhile, a conflict) raise TransactionCancelled for the caller to retry."""
    team_id = team["team_id"]
    now = utcnow()
    stamp = to_iso(now)
    tx = db.Transaction()
    users.add_missing_users(tx, actor, members, stamp)
    items = [teamstore.member_item(team_id, m.user_id, m.user_email, m.role, stamp,
                                   first_order + n, budget=budget.for_member(now))
             for n, m in enumerate(members)]
    team_at = teamstore.roster_add(tx, team, items)
    puts = [teamstore.add_member(tx, actor, item) for item in items]
    try:
        tx.commit()
    except db.TransactionCancelled as cancelled:
        if cancelled.failed_at(team_at):
            raise NotFound(f"Team {team_id} not found") from cancelled
        duplicate = next((i for i, at in zip(items, puts, strict=True)
                          if cancelled.failed_at(at)), None)
        if duplicate:
            raise _already_in(duplicate["user_id"]) from cancelled
        raise
    return items


# --- member_add --------------------------------------------------------------------------

def add_members(actor: Actor, request: MemberAddRequest) -> MemberAdded:
    members = request.member if isinstance(request.member, list) else [request.member]
    budgeted = request.max_budget_in_team is not None or request.budget_duration is not None
    view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id,
                    extra=self_join(actor.caller, request.team_id, members, budgeted))
    budget = BudgetPlan.checked(request.max_budget_in_team, request.budget_duration)
    for _ in db.attempts():
        resolved = users.resolve_members(members)
        present = next((m for m in resolved if view.member(m.user_id)), None)
        if present:
            raise _already_in(present.user_id)
        # Read before the commit: add_missing_users fills in the rows it creates.
        teams_of = {m.user_id: users.team_ids_of(m.user_id) for m in resolved if m.user}
        try:
            items = _commit_adds(actor, view.team, resolved, budget)
        except db.TransactionCancelled as cancelled:
            if not cancelled.retryable:
                raise
            continue  # a user row appeared or a conflict: resolve the members again
        return _member_added(view, resolved, items, teams_of)
    raise Busy("Too many concurrent changes to this team; please retry")


def _member_added(view: TeamView, resolved: list[ResolvedMember], items: list[dict],
                  teams_of: dict[str, list[str]]) -> MemberAdded:
    team = teamstore.to_team(TeamView(view.team, view.members + items))
    updated_users = [User(**users.public(m.user), teams=list(dict.fromkeys(
        [*teams_of.get(m.user_id, []), view.team_id]))) for m in resolved]
    return MemberAdded(**team.model_dump(), updated_users=updated_users,
                       updated_team_memberships=[teamstore.membership(i) for i in items])


# --- bulk_member_add ---------------------------------------------------------------------

def bulk_add_members(actor: Actor, request: BulkMemberAddRequest) -> BulkMembersAdded:
    view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id)
    members = request.members
    if not members:
        raise BadRequest("Pass at least one member in members")
    if len(members) > BULK_MAX:
        raise BadRequest(f"At most {BULK_MAX} members can be added at once; got {len(members)}")
    budget = BudgetPlan.checked(request.max_budget_in_team)
    outcomes: list[ResolvedMember | BadRequest | dict] = [
        _already_in(o.user_id) if isinstance(o, ResolvedMember) and view.member(o.user_id)
        else o for o in users.resolve_each(members)]
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
        updated_team=teamstore.to_team(TeamView(view.team, view.members + added)))


def _add_chunk(actor: Actor, team: dict, members: list[Member], outcomes: list,
               chunk: list[int], budget: BudgetPlan) -> None:
    """Commit a chunk at once; if that fails, each of its members alone, so that only the
    members that really cannot be added fail. Records each member item or error in
    `outcomes`."""
    try:
        items = _commit_adds(actor, team, [outcomes[n] for n in chunk], budget, chunk[0])
    except (db.TransactionCancelled, BadRequest):
        for n in chunk:
            outcomes[n] = _add_alone(actor, team, members[n], budget, n)
        return
    for n, item in zip(chunk, items, strict=True):
        outcomes[n] = item


def _add_alone(actor: Actor, team: dict, member: Member, budget: BudgetPlan,
               order: int) -> dict | BadRequest:
    for _ in db.attempts():
        # Resolved afresh: the failed chunk may have counted on user rows it never wrote.
        resolved = users.resolve_each([member])[0]
        if isinstance(resolved, BadRequest):
            return resolved
        try:
            return _commit_adds(actor, team, [resolved], budget, order)[0]
        except BadRequest as error:
            return error
        except db.TransactionCancelled as cancelled:
            if not cancelled.retryable:
                raise
    return BadRequest("Too many concurrent changes to this team; please retry this member")


def _result(member: Member, outcome: dict | ResolvedMember | BadRequest) -> BulkMemberResult:
    if isinstance(outcome, dict):
        return BulkMemberResult(user_id=outcome["user_id"], user_email=outcome.get("user_email"),
                                success=True)
    error = outcome.message if isinstance(outcome, BadRequest) else "Not added"
    return BulkMemberResult(user_id=member.user_id, user_email=member.user_email, success=False,
                            error=error)


# --- member_delete, member_update --------------------------------------------------------

def _member_named(view: TeamView, user_id: str | None, user_email: str | None) -> dict:
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


def delete_member(actor: Actor, request: MemberDeleteRequest) -> Team:
    """Removes the member item: its membership budget and the user's link go with it."""
    for _ in db.attempts():
        view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id)
        item = _member_named(view, request.user_id, request.user_email)
        tx = db.Transaction()
        teamstore.roster_remove(tx, view.team_id, item["user_id"])
        teamstore.add_member_deletion(tx, actor, item)
        try:
            tx.commit()
        except db.TransactionCancelled:
            continue  # removed or the team deleted meanwhile: the next read tells which
        rest = [m for m in view.members if m["user_id"] != item["user_id"]]
        return teamstore.to_team(TeamView(view.team, rest))
    raise Busy("Too many concurrent changes to this team; please retry")


def _member_changes(item: dict, request: MemberUpdateRequest, budget: BudgetPlan) -> dict:
    changes: dict = {}
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


def update_member(actor: Actor, request: MemberUpdateRequest) -> MemberUpdated:
    """Role and membership budget, created or changed in place; read, check, write with the
    member's version as the condition, so a lost race starts again from the read."""
    for _ in db.attempts():
        view = load_for(actor.caller, Action.MEMBER_MANAGE, request.team_id)
        budget = BudgetPlan.checked(request.max_budget_in_team, request.budget_duration)
        item = _member_named(view, request.user_id, request.user_email)
        changes = _member_changes(item, request, budget)
        tx = db.Transaction()
        if changes.get("role", item["role"]) != item["role"]:
            teamstore.roster_role(tx, view.team, item["user_id"], changes["role"])
        else:
            teamstore.check_active(tx, view.team_id)
        new = teamstore.update_member(tx, actor, item, changes)
        if new is not item:  # a change that changes nothing writes nothing
            try:
                tx.commit()
            except db.TransactionCancelled:
                continue
        return MemberUpdated(user_id=new["user_id"], user_email=new.get("user_email"),
                             team_id=view.team_id, max_budget_in_team=new.get("max_budget"))
    raise Busy("Too many concurrent changes to this member; please retry")
