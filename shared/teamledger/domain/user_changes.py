"""POST /user/update (a user's own fields) and POST /user/delete (users, with everything that
hangs on them: their memberships, their keys and their emails).

A user's role is read from the user row whenever one of their keys authenticates, so a
changed `user_role` binds at once on every key, and nothing else needs to be written."""

from collections.abc import Callable
from typing import Any

from teamledger import sizes
from teamledger.domain import audit, directory, limits
from teamledger.domain.callers import Actor, Caller
from teamledger.domain.keys import delete_key
from teamledger.domain.memberships import delete_member
from teamledger.domain.policy import (
    USER_LIMIT_FIELDS,
    Action,
    Relation,
    authorize,
    check_gate,
)
from teamledger.domain.views import user_public
from teamledger.errors import BadRequest
from teamledger.http.models import User, UserDeleteRequest, UsersDeleted, UserUpdateRequest
from teamledger.store import stores
from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef
from teamledger.store.retry import retry
from teamledger.store.table import Transaction
from teamledger.store.teams import ACTIVE
from teamledger.timestamps import to_iso, utcnow

Item = dict[str, Any]
BUSY = "Too many concurrent changes to this user; please retry"
UPDATABLE = ("user_email", "user_role", "max_budget", "budget_duration", "models", "metadata")
# A transaction holds 100 writes and 4 MB. What each removal writes: a key 3 (the key, its
# counter, its record), a membership 5 (the team's active check, its roster, the member, its
# counter, its record), a user 4 (the row, its counter, its email's item, its record), and
# once per transaction the user count. A transaction is closed before a removal that might
# not fit, or that would touch a team's roster a second time (DynamoDB refuses two writes of
# one item in a transaction).
WRITES = 100 - 1  # the user count's write
KEY_WRITES, MEMBER_WRITES, USER_WRITES = 3, 5, 4
ROOM_BYTES = sizes.TRANSACTION_BYTES - 2 * sizes.ITEM_BYTES


# --- /user/update ------------------------------------------------------------------------

def _user_named(request: UserUpdateRequest) -> str | None:
    """The user a request names: by `user_id`, else by `user_email` (None: nobody has it)."""
    if request.user_id:
        return request.user_id
    assert request.user_email is not None  # update_user refused a request naming nobody
    owners = stores().users.email_owners([request.user_email])[request.user_email]
    if len(owners) > 1:
        raise BadRequest(f"More than one user has the email {request.user_email}; "
                         "pass the user's user_id instead")
    return owners[0] if owners else None


def update_user(actor: Actor, request: UserUpdateRequest) -> User:
    """The fields sent (not null) change; read, check, write with the row's version as the
    condition, so a lost race starts again from the read."""
    caller = actor.caller
    check_gate(caller, Action.USER_UPDATE)
    if not (request.user_id or request.user_email):
        raise BadRequest("Pass the user's user_id or user_email")

    def attempt() -> User:
        user_id = _user_named(request)
        item = stores().users.with_spend(user_id) if user_id else None
        authorize(caller, Action.USER_UPDATE, exists=item is not None,
                  what=f"User {request.user_id or request.user_email}",
                  relations={Relation.SELF} if user_id == caller.user_id else set())
        assert item is not None and user_id is not None  # authorize refused an unknown user
        changes = _planned_changes(caller, item, request)
        before, after = audit.changed_fields(item, changes)
        if after:
            tx = stores().transaction()
            item = stores().users.update(
                tx, item, after, email_refusal=_taken(after.get("user_email")))
            audit.record(tx, actor, audit.UPDATED, audit.USER_TABLE, audit.object_id(user_id),
                         {k: v for k, v in before.items() if k != "budget_anchor"},
                         {k: v for k, v in after.items() if k != "budget_anchor"})
            tx.commit()  # a lost race: read again; an email taken meanwhile: its 400
        return User(**user_public(item), teams=stores().members.team_ids_of(user_id))

    return retry(attempt, BUSY)


def _taken(user_email: str | None) -> BadRequest:
    return BadRequest(f"The email {user_email} belongs to another user")


def _planned_changes(caller: Caller, user: Item, request: UserUpdateRequest) -> Item:
    sent = {f: getattr(request, f) for f in UPDATABLE if getattr(request, f) is not None}
    if not request.user_id:
        sent.pop("user_email", None)  # it names the user
    if any(f in sent and sent[f] != user.get(f) for f in USER_LIMIT_FIELDS):
        authorize(caller, Action.USER_LIMITS)  # 403 before any 400 of the values
    limits.check_budget("max_budget", request.max_budget)
    limits.check_json_sizes(metadata=sent.get("metadata"), models=sent.get("models"))
    changes = {f: v for f, v in sent.items() if f != "budget_duration"}
    email = sent.get("user_email")
    if email is not None and email == user.get("user_email"):
        del changes["user_email"]
    elif email is not None and not directory.same_email(email, user.get("user_email")):
        owners = stores().users.email_owners([email])[email]
        if any(owner != user["user_id"] for owner in owners):
            raise _taken(email)
    duration = sent.get("budget_duration")
    if duration is not None and duration != user.get("budget_duration"):
        # A new period starts now, on its own grid, with nothing spent in it yet.
        period = limits.parse_duration(duration)
        reset_at = to_iso(period.first_reset(utcnow())) if period else None
        changes |= {"budget_duration": duration, "budget_reset_at": reset_at,
                    "budget_anchor": reset_at, "spend": 0.0}
    return changes


# --- /user/delete ------------------------------------------------------------------------

class _Removals:
    """Audited deletions, packed into as few transactions as hold them, in the order given:
    a transaction that is full commits before the next removal starts a new one."""

    def __init__(self) -> None:
        self.tx = stores().transaction()
        self.teams: set[str] = set()  # whose rosters the open transaction writes

    def add(self, writes: int, remove: Callable[[Transaction], None],
            team_id: str | None = None) -> None:
        if len(self.tx) + writes > WRITES or self.tx.size > ROOM_BYTES or team_id in self.teams:
            self.commit()
        remove(self.tx)
        if team_id is not None:
            self.teams.add(team_id)

    def commit(self) -> None:
        self.tx.commit()  # a lost race: the request starts again from its reads
        self.tx, self.teams = stores().transaction(), set()


def delete_users(actor: Actor, request: UserDeleteRequest) -> UsersDeleted:
    """Every id is checked first (unknown: 404, nothing deleted). Then each user's keys and
    memberships go, and their row last (with its counter and email's item), all audited, in
    one transaction when they fit in one; else in several, each user's row in the last of
    its own, so no user is ever gone while a key of theirs still works. A failure midway
    leaves fewer keys and memberships (each deletion audited) and answers 503: the request
    again finishes the job (its reads start over)."""
    caller = actor.caller
    check_gate(caller, Action.USER_DELETE)
    user_ids = list(dict.fromkeys(request.user_ids))
    found = _users(user_ids)
    for user_id in user_ids:
        authorize(caller, Action.USER_DELETE, exists=user_id in found, what=f"User {user_id}")

    reads = [found]  # the first round works on what was just read

    def attempt() -> None:
        # Later rounds read again: the users an earlier round left, as they are now.
        users = reads.pop() if reads else _users(user_ids)
        removals = _Removals()
        for user in users.values():
            _remove_user(actor, removals, user)
        removals.commit()

    retry(attempt, BUSY)
    return UsersDeleted(deleted_users=user_ids)


def _users(user_ids: list[str]) -> dict[str, Item]:
    found = stores().items.read(UserRef(u) for u in user_ids)
    return {u: found[UserRef(u)] for u in user_ids if UserRef(u) in found}


def _remove_user(actor: Actor, removals: _Removals, user: Item) -> None:
    """The user's keys and memberships as they are now (found on the user's index, which
    trails, then read consistently, so nothing is deleted or recorded twice), then the user."""
    user_id = user["user_id"]
    team_ids, tokens = stores().users.linked(user_id)
    refs: list[Ref] = [KeyRef(t) for t in tokens]
    refs += [MemberRef(t, user_id) for t in team_ids] + [TeamRef(t) for t in team_ids]
    found = stores().items.read(refs)
    for ref, item in found.items():
        if isinstance(ref, KeyRef) and item.get("user_id") == user_id:
            removals.add(KEY_WRITES, _bound(delete_key, actor, item))
    for team_id in team_ids:
        member = found.get(MemberRef(team_id, user_id))
        if member is None:
            continue
        team = found.get(TeamRef(team_id))
        if team is None or team.get("status") != ACTIVE:  # a team being deleted: no roster
            removals.add(MEMBER_WRITES, _bound(delete_member, actor, member))
            continue
        removals.add(MEMBER_WRITES, _bound(_leave_team, actor, member), team_id)
    removals.add(USER_WRITES, _bound(_delete_user, actor, user))


def _bound(remove: Callable[[Transaction, Actor, Item], None], actor: Actor,
           item: Item) -> Callable[[Transaction], None]:
    return lambda tx: remove(tx, actor, item)


def _leave_team(tx: Transaction, actor: Actor, member: Item) -> None:
    stores().teams.remove_from_roster(tx, member["team_id"], member["user_id"])
    delete_member(tx, actor, member)


def _delete_user(tx: Transaction, actor: Actor, user: Item) -> None:
    stores().users.delete(tx, user)
    audit.record(tx, actor, audit.DELETED, audit.USER_TABLE, audit.object_id(user["user_id"]),
                 user_public(user), None)
