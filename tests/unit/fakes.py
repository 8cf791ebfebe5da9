"""In-memory fakes of the stores (teamledger.store), for unit tests of the domain without moto.

They keep the promises the DynamoDB stores keep, in the same words: a transaction checks every
condition first and then applies all of its writes or none; a failed condition cancels it with
the error its write named (its refusal) or a TransactionCancelled the domain's retry loop takes
as a lost race. Reads hand out copies, as a real read would: changing one changes nothing
stored. `FakeTransaction.before_commit` lets a test play a concurrent writer that lands between
a request's reads and its commit. A transaction that names one item twice is refused whole, as
DynamoDB refuses it (a ValidationException).

Spend lives on counters (`Data.counters`, one per budget scope, in money units), never on the
entity items: the fakes drop `spend` from what they store and fill it in (USD) on the reads that
the real stores fill it on. A counter moves by `FakeCounters.step`, one step applied at most
once (the writer's mark), outside any transaction, as CounterStore.step; the admin writes of a
counter (a budget copied, spend restarted, the counter deleted) are writes of the entity's
transaction, as the store module's `set_budget`, `restart` and `delete`. `FakeStores.before_step`
lets a test play what lands before a request's next step (a concurrent call, a lost answer).

What they do not model: capacity, throttling, item sizes, index projections, paging, and the
exact order of a Query beyond what a test relies on (members by user id, as their sort keys);
nor a counter's resends after a busy answer, nor the pruning of old marks.
"""

import copy
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zlib import crc32

from botocore.exceptions import ClientError
from teamledger import money
from teamledger.errors import ServiceError, TransactionCancelled
from teamledger.store import counters as counter_store
from teamledger.store import teams as team_store
from teamledger.store.api_keys import POINTER, follow_pointers
from teamledger.store.counters import Outcome, Result, Step, new_counter
from teamledger.store.keys import LEASE_SHARDS, lease_index, ref_of, spend_order, spend_ref
from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef
from teamledger.store.table import Refusal
from teamledger.store.team_orders import TeamMatch, sort_key
from teamledger.store.teams import ACTIVE, DELETING, RosterChanged, TeamView, fitting

Item = dict[str, Any]


@dataclass
class Data:
    """Everything stored, by entity."""

    teams: dict[str, Item] = field(default_factory=dict)
    members: dict[tuple[str, str], Item] = field(default_factory=dict)
    users: dict[str, Item] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)  # email lowercased -> its user's id
    keys: dict[str, Item] = field(default_factory=dict)
    counters: dict[Ref, Item] = field(default_factory=dict)  # units; marks in `w`
    reservations: dict[str, Item] = field(default_factory=dict)
    leases: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (shard, sort key)
    lease_mark: str | None = None
    spend_order: dict[str, int] = field(default_factory=dict)  # team id -> spend placed (units)
    audit: list[Item] = field(default_factory=list)
    audit_teams: dict[str, str] = field(default_factory=dict)  # record id -> its team (GSI11)
    published: set[str] = field(default_factory=set)
    notes: dict[tuple[str, str], Item] = field(default_factory=dict)  # spend reports' notes
    team_count: int = 0
    commits: int = 0
    # One write at a time, as DynamoDB applies them (the budget reset runs shards in threads).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def get(self, ref: Ref) -> Item | None:
        if isinstance(ref, TeamRef):
            return self.teams.get(ref.team_id)
        if isinstance(ref, MemberRef):
            return self.members.get((ref.team_id, ref.user_id))
        if isinstance(ref, UserRef):
            return self.users.get(ref.user_id)
        return self.keys.get(ref.token)

    def spend(self, ref: Ref) -> float:
        """The spend on the entity's counter (USD); 0 without one."""
        return money.usd((self.counters.get(ref) or {}).get("spend"))

    def reserved(self, ref: Ref) -> float:
        """What is held on the entity's counter (USD); 0 without one."""
        return money.usd((self.counters.get(ref) or {}).get("reserved"))

    def records(self, object_id: str | None = None) -> list[Item]:
        return [r for r in self.audit if object_id is None or r["object_id"] == object_id]


def _set(item: Item, changes: Item) -> None:
    for name, value in changes.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value


def _present(values: Item) -> Item:
    return {k: v for k, v in values.items() if v is not None}


def _stored(values: Item) -> Item:
    """What an entity store writes of an item: its present fields, never `spend`."""
    return {k: v for k, v in _present(copy.deepcopy(values)).items() if k != "spend"}


@dataclass
class _Write:
    holds: Callable[[], bool]
    apply: Callable[[], None]
    refusal: Refusal | None
    item: Hashable | None  # which item it writes (None: one of its own, such as a record)


class FakeTransaction:
    size = 0  # the real one's reckoning of its bytes (item sizes are not modelled here)

    def __init__(self, data: Data, before_commit: list[Callable[[], None]]):
        self.data = data
        self.writes: list[_Write] = []
        self._before_commit = before_commit
        self._after_commit: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self.writes)

    def write(self, holds: Callable[[], bool], apply: Callable[[], None],
              refusal: Refusal | None = None, item: Hashable | None = None) -> None:
        self.writes.append(_Write(holds, apply, refusal, item))

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def commit(self) -> None:
        if not self.writes:
            return
        named = [w.item for w in self.writes if w.item is not None]
        if len(named) != len(set(named)):  # DynamoDB refuses the request itself
            raise ClientError({"Error": {
                "Code": "ValidationException",
                "Message": "Transaction request cannot include multiple operations on one item"}},
                "TransactWriteItems")
        hooks = list(self._before_commit)  # a hook may queue one for the next commit
        self._before_commit.clear()
        for hook in hooks:
            hook()  # a concurrent writer gets there first
        with self.data.lock:
            held = [w.holds() for w in self.writes]
            if not all(held):
                cancelled = TransactionCancelled(["None" if ok else "ConditionalCheckFailed"
                                                  for ok in held])
                refused = next((w.refusal for w, ok in zip(self.writes, held, strict=True)
                                if not ok and w.refusal is not None), None)
                if isinstance(refused, ServiceError):
                    raise refused
                if refused is not None:
                    raise refused(cancelled)
                raise cancelled
            for w in self.writes:
                w.apply()
            self.data.commits += 1
        for callback in self._after_commit:
            callback()


# --- counters ------------------------------------------------------------------------------

def _new_counter(ref: Ref, max_budget: int | None) -> Item:
    return {k: v for k, v in new_counter(ref, max_budget).items() if k not in ("PK", "SK")}


def _public(counter: Item) -> Item:
    """A counter as CounterStore reads hand it out: a copy, without its marks."""
    return {k: copy.deepcopy(v) for k, v in counter.items() if k != "w"}


def set_budget(data: Data, tx: FakeTransaction, ref: Ref, max_budget: float | None) -> None:
    """counters.set_budget: the entity's new budget copied onto its counter (made if need be),
    in the entity's transaction."""
    def apply() -> None:
        counter = data.counters.setdefault(ref, _new_counter(ref, None))
        if max_budget is None:
            counter.pop("max_budget", None)
        else:
            counter["max_budget"] = money.units(max_budget)
    tx.write(lambda: True, apply, item=("counter", ref))


def restart(data: Data, tx: FakeTransaction, ref: Ref) -> float:
    """counters.restart: spend back to 0 on condition that it is still what is read now (what
    is reserved stays); returns the spend that ended (USD)."""
    counter = data.counters.get(ref)
    spend = int(counter.get("spend", 0)) if counter else 0
    if spend:
        def holds() -> bool:
            now = data.counters.get(ref)
            return now is not None and int(now.get("spend", 0)) == spend

        def apply() -> None:
            now = data.counters[ref]
            now["spend"] = 0
            now["used"] = int(now.get("used", 0)) - spend
        tx.write(holds, apply, item=("counter", ref))
    return money.usd(spend)


_KEEP = object()


def rewrite(data: Data, tx: FakeTransaction, ref: Ref, *, budget: Any = _KEEP,
            restart_period: bool = False) -> float:
    """counters.rewrite: a new budget and/or a new period as ONE write of the counter (the
    real store sends one update; two writes of one item in a transaction are refused)."""
    if budget is _KEEP:
        return restart(data, tx, ref) if restart_period else 0.0
    counter = data.counters.get(ref)
    spend = int(counter.get("spend", 0)) if counter and restart_period else 0

    def holds() -> bool:
        now = data.counters.get(ref)
        return not spend or (now is not None and int(now.get("spend", 0)) == spend)

    def apply() -> None:
        now = data.counters.setdefault(ref, _new_counter(ref, None))
        if budget is None:
            now.pop("max_budget", None)
        else:
            now["max_budget"] = money.units(budget)
        if spend:
            now["spend"] = 0
            now["used"] = int(now.get("used", 0)) - spend
    tx.write(holds, apply, item=("counter", ref))
    return money.usd(spend)


def delete_counter(data: Data, tx: FakeTransaction, ref: Ref) -> None:
    """counters.delete: the counter goes with its entity (no condition: it may not exist)."""
    tx.write(lambda: True, lambda: data.counters.pop(ref, None), item=("counter", ref))


class FakeCounters:
    """CounterStore: each step applied at most once, decided by its writer's mark on the
    counter; a `limit` step refused if `used` would pass `max_budget`; a counter made on first
    use from its entity's budget (no entity, or a team not active: GONE)."""

    def __init__(self, data: Data, before_step: list[Callable[[Step], None]] | None = None):
        self.data = data
        self.before_step = before_step if before_step is not None else []

    def read(self, refs: Iterable[Ref]) -> dict[Ref, Item]:
        found = {ref: self.data.counters.get(ref) for ref in dict.fromkeys(refs)}
        return {ref: _public(c) for ref, c in found.items() if c is not None}

    def fill(self, items: list[Item]) -> list[Item]:
        """Each entity's `spend` (USD) from its counter, in place (no counter yet: 0)."""
        for item in items:
            ref = spend_ref(item)
            if ref is not None:
                item["spend"] = self.data.spend(ref)
        return items

    def fill_members(self, team_id: str, members: list[Item]) -> list[Item]:
        return self.fill(members)

    def marks(self, refs: Iterable[Ref]) -> dict[Ref, dict[str, int]]:
        found = {ref: self.data.counters.get(ref) for ref in dict.fromkeys(refs)}
        return {ref: {w: int(s) for w, s in c["w"].items()}
                for ref, c in found.items() if c is not None}

    def step(self, step: Step, max_budget: int | None = None) -> Result:
        """As CounterStore.step. `max_budget` is what the caller read; as in the real store it
        only shapes the first request, and the budget that decides is the counter's own."""
        hooks = list(self.before_step)  # a hook may queue one for the next step
        self.before_step.clear()
        for hook in hooks:
            hook(step)  # what lands first: a concurrent call, or this step with a lost answer
        with self.data.lock:
            return self._step(step)

    def undo(self, ref: Ref, writer: str, reserve_seq: int, amount: int) -> Result:
        """As CounterStore.undo: drop the hold if the reserve step applied, else take its
        token with a step of nothing (a late reserve step then never applies)."""
        for step in (Step(ref, writer, reserve_seq + 1, reserved=-amount, after=reserve_seq),
                     Step(ref, writer, reserve_seq + 1, before=reserve_seq)):
            result = self.step(step)
            if result.outcome is not Outcome.REFUSED:
                return result
        raise AssertionError("one of the two always applies in the fake (no concurrency)")

    def _step(self, step: Step) -> Result:
        counter = self.data.counters.get(step.ref)
        fencing = step.after is not None or step.before is not None
        if counter is None and fencing:
            return Result(Outcome.GONE)
        if counter is None:
            if not self._create(step.ref):
                return Result(Outcome.GONE)
            counter = self.data.counters[step.ref]
        mark = int(counter["w"].get(step.writer, 0))
        if mark >= step.seq:
            return Result(Outcome.ALREADY, _public(counter))
        if (step.after is not None and mark != step.after) or \
                (step.before is not None and mark >= step.before):
            return Result(Outcome.REFUSED, _public(counter))
        budget = counter.get("max_budget")
        if step.limit and budget is not None and \
                int(counter["used"]) + step.reserved + step.spend > int(budget):
            return Result(Outcome.REFUSED, _public(counter))
        counter["w"][step.writer] = step.seq
        counter["spend"] = int(counter["spend"]) + step.spend
        counter["reserved"] = int(counter["reserved"]) + step.reserved
        counter["used"] = int(counter["used"]) + step.spend + step.reserved
        return Result(Outcome.APPLIED, _public(counter))

    def _create(self, ref: Ref) -> bool:
        entity = self.data.get(ref)
        if entity is None or (isinstance(ref, TeamRef) and entity.get("status") != ACTIVE):
            return False
        budget = entity.get("max_budget")
        self.data.counters[ref] = _new_counter(
            ref, money.units(budget) if budget is not None else None)
        return True


# --- entities ------------------------------------------------------------------------------

class FakeTeams:
    def __init__(self, data: Data):
        self.data = data

    def load(self, team_id: str, *, include_deleting: bool = False) -> TeamView | None:
        team = self.data.teams.get(team_id)
        if team is None or (team["status"] != ACTIVE and not include_deleting):
            return None
        members = [copy.deepcopy(m) for (t, _), m in sorted(self.data.members.items())
                   if t == team_id]
        counters = FakeCounters(self.data)
        return TeamView(counters.fill([copy.deepcopy(team)])[0], counters.fill(members))

    def listed(self, team_ids: list[str]) -> list[TeamView]:
        found = [self.data.teams.get(t) for t in dict.fromkeys(team_ids)]
        return [roster_view(FakeCounters(self.data).fill([copy.deepcopy(t)])[0])
                for t in found if t is not None and t["status"] == ACTIVE]

    def total(self) -> int:
        return self.data.team_count

    def gate(self, team_id: str, more: tuple[str, ...] = ()) -> Item | None:
        team = self.data.teams.get(team_id)
        if team is None:
            return None
        return {k: copy.deepcopy(team[k]) for k in ("blocked", "status", *more) if k in team}

    def put_new(self, tx: FakeTransaction, team: Item, members: list[Item],
                refusal: ServiceError) -> None:
        def apply() -> None:
            entries = fitting({}, 0, members)
            self.data.teams[team["team_id"]] = {
                "entity": "team", "status": ACTIVE, "version": 1,
                "roster": entries, "roster_bytes": sum(e["size"] for e in entries.values()),
            } | _stored(team)
        tx.write(lambda: team["team_id"] not in self.data.teams, apply, refusal,
                 TeamRef(team["team_id"]))
        self.count(tx, +1)
        tx.write(lambda: True, lambda: self.data.spend_order.__setitem__(team["team_id"], 0),
                 item=("spend_order", team["team_id"]))

    def _active(self, team_id: str) -> bool:
        team = self.data.teams.get(team_id)
        return team is not None and team["status"] == ACTIVE

    def check_active(self, tx: FakeTransaction, team_id: str,
                     refusal: ServiceError | None = None) -> None:
        tx.write(lambda: self._active(team_id), lambda: None, refusal, TeamRef(team_id))

    def rosters(self, team_ids: list[str]) -> dict[str, Item]:
        return {t: {"team_id": t, "roster": copy.deepcopy(self.data.teams[t]["roster"]),
                    "roster_bytes": self.data.teams[t]["roster_bytes"]}
                for t in dict.fromkeys(team_ids) if t in self.data.teams}

    def add_to_roster(self, tx: FakeTransaction, team: Item, members: list[Item],
                      refusal: ServiceError | None = None) -> None:
        """As the store: the room reckoned from the team dict's roster (as last read), the
        write on condition that the stored roster still has it; else RosterChanged, with the
        dict's roster read again; after the commit, the dict holds the new entries."""
        team_id = team["team_id"]
        if "roster" not in team:
            team.update(self.rosters([team_id]).get(team_id) or {})
        entries = fitting(team.get("roster") or {}, int(team.get("roster_bytes") or 0), members)
        added = sum(e["size"] for e in entries.values())

        def holds() -> bool:
            stored = self.data.teams.get(team_id)
            return self._active(team_id) and stored is not None and \
                len(stored["roster"]) <= team_store.ROSTER_LIMIT - len(entries) and \
                stored["roster_bytes"] <= team_store.ROSTER_BYTES - added

        def apply() -> None:
            stored = self.data.teams[team_id]
            stored["roster"].update(copy.deepcopy(entries))
            stored["roster_bytes"] += added

        def refused(cancelled: TransactionCancelled) -> Exception:
            if not self._active(team_id):
                return refusal or cancelled
            team.update(self.rosters([team_id]).get(team_id) or {})
            return RosterChanged(cancelled.reasons)

        tx.write(holds, apply, refused, TeamRef(team_id))
        tx.after_commit(lambda: team.update(
            roster=(team.get("roster") or {}) | entries,
            roster_bytes=int(team.get("roster_bytes") or 0) + added))

    def remove_from_roster(self, tx: FakeTransaction, team_id: str, user_id: str) -> None:
        def apply() -> None:
            stored = self.data.teams[team_id]
            stored["roster_bytes"] -= (stored["roster"].pop(user_id, None) or {}).get("size", 0)
        tx.write(lambda: self._active(team_id), apply, item=TeamRef(team_id))

    def set_roster_role(self, tx: FakeTransaction, team: Item, user_id: str, role: str) -> None:
        def apply() -> None:
            entry = self.data.teams[team["team_id"]]["roster"].get(user_id)
            if entry is not None:
                entry["role"] = role
        tx.write(lambda: self._active(team["team_id"]), apply, item=TeamRef(team["team_id"]))

    def update(self, tx: FakeTransaction, team: Item, changes: Item) -> Item:
        team_id = team["team_id"]
        ref = TeamRef(team_id)
        if "spend" in changes or "max_budget" in changes:  # one write, as the real store
            rewrite(self.data, tx, ref, budget=changes.get("max_budget", _KEEP),
                    restart_period="spend" in changes)

        def holds() -> bool:
            stored = self.data.teams.get(team_id)
            return stored is not None and stored["status"] == ACTIVE and \
                stored["version"] == team["version"]

        def apply() -> None:
            stored = self.data.teams[team_id]
            _set(stored, {k: v for k, v in copy.deepcopy(changes).items() if k != "spend"})
            stored["version"] += 1
        tx.write(holds, apply, item=ref)
        return _present(team | changes | {"version": team["version"] + 1})

    def mark_deleting(self, tx: FakeTransaction, team: Item, now: str) -> None:
        tx.write(lambda: self._active(team["team_id"]),
                 lambda: self.data.teams[team["team_id"]].update(status=DELETING, updated_at=now),
                 item=TeamRef(team["team_id"]))

    @staticmethod
    def mark_writes(team: Item) -> int:
        return 1  # the fakes keep no alias word index

    def delete_deleting(self, tx: FakeTransaction, team_id: str) -> None:
        delete_counter(self.data, tx, TeamRef(team_id))
        tx.write(lambda: True, lambda: self.data.spend_order.pop(team_id, None),
                 item=("spend_order", team_id))
        tx.write(lambda: (self.data.teams.get(team_id) or {}).get("status") == DELETING,
                 lambda: self.data.teams.pop(team_id), item=TeamRef(team_id))

    def count(self, tx: FakeTransaction, delta: int) -> None:
        def apply() -> None:
            self.data.team_count += delta
        tx.write(lambda: True, apply)


def roster_view(team: Item) -> TeamView:
    roster = sorted(team.get("roster", {}).items(), key=lambda e: e[1]["order"])
    return TeamView(copy.deepcopy(team), [
        {"user_id": u, "user_email": e.get("user_email"), "role": e["role"]} for u, e in roster])


class FakeMembers:
    def __init__(self, data: Data):
        self.data = data

    def put_new(self, tx: FakeTransaction, member: Item, refusal: ServiceError) -> None:
        at = (member["team_id"], member["user_id"])
        tx.write(lambda: at not in self.data.members,
                 lambda: self.data.members.__setitem__(at, _stored(member) | {
                     "entity": "member", "version": 1}), refusal, MemberRef(*at))

    def update(self, tx: FakeTransaction, member: Item, changes: Item) -> Item:
        at = (member["team_id"], member["user_id"])
        ref = MemberRef(*at)
        if "spend" in changes or "max_budget" in changes:  # one write, as the real store
            rewrite(self.data, tx, ref, budget=changes.get("max_budget", _KEEP),
                    restart_period="spend" in changes)

        def holds() -> bool:
            stored = self.data.members.get(at)
            return stored is not None and stored.get("version") == member.get("version")

        def apply() -> None:
            stored = self.data.members[at]
            _set(stored, {k: v for k, v in copy.deepcopy(changes).items() if k != "spend"})
            stored["version"] = member.get("version", 0) + 1
        tx.write(holds, apply, item=ref)
        return _present(member | changes | {"version": member.get("version", 0) + 1})

    def delete(self, tx: FakeTransaction, member: Item) -> None:
        at = (member["team_id"], member["user_id"])
        tx.write(lambda: at in self.data.members, lambda: self.data.members.pop(at),
                 item=MemberRef(*at))
        delete_counter(self.data, tx, MemberRef(*at))

    def check_role(self, tx: FakeTransaction, team_id: str, user_id: str, role: str,
                   refusal: ServiceError) -> None:
        at = (team_id, user_id)
        tx.write(lambda: (self.data.members.get(at) or {}).get("role") == role, lambda: None,
                 refusal, MemberRef(*at))

    def roles_of(self, user_id: str | None, team_ids: set[str]) -> dict[str, str]:
        return {t: m["role"] for (t, u), m in self.data.members.items()
                if u == user_id and t in team_ids}

    def team_ids_of(self, user_id: str) -> list[str]:
        return sorted(t for t, u in self.data.members if u == user_id)

    def page_of(self, team_id: str, after: str | None, limit: int) -> tuple[list[Item], bool]:
        members = [copy.deepcopy(m) for (t, u), m in sorted(self.data.members.items())
                   if t == team_id and (after is None or u > after)]
        return members[:limit], len(members) > limit


class FakeUsers:
    def __init__(self, data: Data):
        self.data = data

    def get(self, user_id: str) -> Item | None:
        return copy.deepcopy(self.data.users.get(user_id))

    def role_of(self, user_id: str) -> str | None:
        return (self.data.users.get(user_id) or {}).get("user_role")

    def with_spend(self, user_id: str) -> Item | None:
        user = self.get(user_id)
        return FakeCounters(self.data).fill([user])[0] if user is not None else None

    def find_by_email(self, user_email: str, limit: int = 2) -> list[Item]:
        return [copy.deepcopy(u) for u in self.data.users.values()
                if (u.get("user_email") or "").lower() == user_email.lower()][:limit]

    def email_owners(self, emails: Iterable[str]) -> dict[str, list[str]]:
        owners = {}
        for user_email in emails:
            owner = self.data.emails.get(user_email.lower())
            # Users stored before email items (a test puts them in `users` only): by their rows.
            owners[user_email] = [owner] if owner else [
                u["user_id"] for u in self.find_by_email(user_email)]
        return owners

    def put_new(self, tx: FakeTransaction, user: Item, refusal: ServiceError | None = None,
                email_refusal: ServiceError | None = None) -> None:
        tx.write(lambda: user["user_id"] not in self.data.users,
                 lambda: self.data.users.__setitem__(
                     user["user_id"], _stored(user) | {"entity": "user"}),
                 refusal, UserRef(user["user_id"]))
        email = (user.get("user_email") or "").lower()
        if email:
            tx.write(lambda: email not in self.data.emails,
                     lambda: self.data.emails.__setitem__(email, user["user_id"]),
                     email_refusal, ("email", email))

    def links(self, user_id: str) -> tuple[list[str], list[Item]]:
        return (FakeMembers(self.data).team_ids_of(user_id),
                FakeCounters(self.data).fill([copy.deepcopy(k) for k in self.data.keys.values()
                                              if k.get("user_id") == user_id]))

    def memberships_and_keys(self, user_id: str) -> tuple[list[Item], list[Item]]:
        counters = FakeCounters(self.data)
        return (counters.fill([copy.deepcopy(m) for (_, u), m in sorted(self.data.members.items())
                               if u == user_id]),
                self.links(user_id)[1])

    def linked(self, user_id: str) -> tuple[list[str], list[str]]:
        return (FakeMembers(self.data).team_ids_of(user_id),
                [t for t, k in self.data.keys.items() if k.get("user_id") == user_id])

    def update(self, tx: FakeTransaction, user: Item, changes: Item,
               email_refusal: ServiceError | None = None) -> Item:
        """UserStore.update: on condition of the version read; a new email moves its item."""
        user_id = user["user_id"]
        version = user.get("version", 0) + 1
        written = {k: v for k, v in changes.items() if k != "spend"} | {"version": version}

        def unchanged() -> bool:
            now = self.data.users.get(user_id)
            return now is not None and now.get("version") == user.get("version")

        tx.write(unchanged, lambda: _set(self.data.users[user_id], written), None,
                 UserRef(user_id))
        if "spend" in changes or "max_budget" in changes:
            rewrite(self.data, tx, UserRef(user_id), budget=changes.get("max_budget", _KEEP),
                    restart_period="spend" in changes)
        if changes.get("user_email"):
            old, new = (user.get("user_email") or "").lower(), changes["user_email"].lower()

            def mine(email: str) -> bool:
                return self.data.emails.get(email) in (None, user_id)

            if old and old != new:
                tx.write(lambda: mine(old), lambda: self.data.emails.pop(old, None),
                         item=("email", old))
            tx.write(lambda: mine(new), lambda: self.data.emails.__setitem__(new, user_id),
                     email_refusal, ("email", new))
        return {k: v for k, v in (user | changes | {"version": version}).items()
                if v is not None}

    def delete(self, tx: FakeTransaction, user: Item) -> None:
        """UserStore.delete: the row, its counter, its email's item if still theirs."""
        user_id = user["user_id"]
        email = (user.get("user_email") or "").lower()
        tx.write(lambda: user_id in self.data.users, lambda: self.data.users.pop(user_id),
                 item=UserRef(user_id))
        delete_counter(self.data, tx, UserRef(user_id))
        if email:
            tx.write(lambda: self.data.emails.get(email) in (None, user_id),
                     lambda: self.data.emails.pop(email, None), item=("email", email))

    def total(self) -> int:
        return len(self.data.users)

    def _matching(self, match: Any) -> list[Item]:
        return sorted((copy.deepcopy(u) for u in self.data.users.values()
                       if (not match.role or u.get("user_role") == match.role)
                       and (not match.email_contains or match.email_contains.lower()
                            in (u.get("user_email") or "").lower())),
                      key=lambda u: (u["created_at"], u["user_id"]), reverse=True)

    def listed(self, match: Any, skip: int, take: int) -> list[Item]:
        return FakeCounters(self.data).fill(self._matching(match)[skip:skip + take])

    def count_matching(self, match: Any) -> int:
        return len(self._matching(match))


class FakeKeys:
    def __init__(self, data: Data):
        self.data = data

    def get(self, token: str) -> Item | None:
        """KeyStore.get: through a regenerated key's old token to the key (its grace period
        bounding `expires`)."""
        return follow_pointers(copy.deepcopy(self.data.keys.get(token)),
                               lambda t: copy.deepcopy(self.data.keys.get(t)))

    def for_auth(self, token: str) -> Item | None:
        return self.get(token)

    def with_spend(self, token: str) -> Item | None:
        found = self.get(token)
        return FakeCounters(self.data).fill([found])[0] if found else None

    def replace(self, tx: FakeTransaction, before: Item, after: Item, *,
                budget: Any = counter_store.KEEP, restart: bool = False,
                grace_until: str | None = None, pointer_ttl: int | None = None,
                refusal: ServiceError | None = None) -> Item:
        """KeyStore.replace: the key as changed if it is still the version read; a new token
        moves it (the old one points to it until `grace_until`, or goes); its counter, named
        by its stable id, takes the budget (made if a move finds none) and the new period."""
        written = after | {"version": before.get("version", 0) + 1}
        old, new = before["token"], after["token"]

        def unchanged() -> bool:
            now = self.data.keys.get(old)
            return now is not None and now.get("entity", "key") == "key" and \
                now.get("version") == before.get("version")

        def put(token: str, item: Item) -> Callable[[], None]:
            return lambda: self.data.keys.__setitem__(token, item)

        stored = _stored(written) | {"entity": "key"}
        if new == old:
            tx.write(unchanged, put(old, stored), refusal, KeyRef(old))
        else:
            tx.write(lambda: new not in self.data.keys, put(new, stored), item=KeyRef(new))
            pointer = {"entity": POINTER, "token": old, "moved_to": new,
                       "grace_until": grace_until}
            tx.write(unchanged, put(old, pointer) if grace_until else
                     (lambda: self.data.keys.pop(old)), refusal, KeyRef(old))
        ref = spend_ref(written | {"entity": "key"})
        assert ref is not None
        if new != old:
            rewrite(self.data, tx, ref, budget=after.get("max_budget"), restart_period=restart)
        elif restart or budget is not counter_store.KEEP:
            rewrite(self.data, tx, ref,
                    budget=_KEEP if budget is counter_store.KEEP else budget,
                    restart_period=restart)
        return written

    def of_team(self, team_id: str, spend: bool = True) -> list[Item]:
        found = [copy.deepcopy(k) for k in self.data.keys.values() if k.get("team_id") == team_id]
        return FakeCounters(self.data).fill(found) if spend else found

    def of_member(self, team_id: str, user_id: str) -> list[str]:
        return [t for t, k in self.data.keys.items()
                if k.get("team_id") == team_id and k.get("user_id") == user_id]

    def first(self, limit: int, *, user_id: str | None = None, team_id: str | None = None,
              key_alias: str | None = None) -> tuple[list[Item], bool]:
        """KeyStore.first: in token order, as the indexes hold them."""
        found = [copy.deepcopy(k) for _, k in sorted(self.data.keys.items())
                 if k.get("entity", "key") == "key"
                 and (team_id is None or k.get("team_id") == team_id)
                 and (user_id is None or k.get("user_id") == user_id)
                 and (key_alias is None or k.get("key_alias") == key_alias)]
        return found[:limit], len(found) > limit

    def put_new(self, tx: FakeTransaction, key: Item) -> None:
        tx.write(lambda: key["token"] not in self.data.keys,
                 lambda: self.data.keys.__setitem__(
                     key["token"], _stored(key) | {"entity": "key"}), item=KeyRef(key["token"]))

    def delete(self, tx: FakeTransaction, key: Item, refusal: ServiceError | None = None) -> None:
        tx.write(lambda: key["token"] in self.data.keys,
                 lambda: self.data.keys.pop(key["token"]), refusal, KeyRef(key["token"]))
        delete_counter(self.data, tx, spend_ref(key | {"entity": "key"}) or KeyRef(key["token"]))


class FakeAudit:
    def __init__(self, data: Data):
        self.data = data

    def record(self, tx: FakeTransaction, log: Item, team_id: str | None = None) -> None:
        def put() -> None:
            self.data.audit.append(copy.deepcopy(log))
            if team_id:
                self.data.audit_teams[log["id"]] = team_id

        tx.write(lambda: True, put)

    def has_team_records(self, team_id: str) -> bool:
        return team_id in self.data.audit_teams.values()

    def page(self, query: Any, cursor: str | None) -> tuple[list[Item], str | None]:
        wanted = {k: getattr(query, k) for k in ("object_id", "table_name", "action",
                                                  "changed_by") if getattr(query, k)}
        found = [r for r in reversed(self.data.audit)
                 if all(r.get(k) == v for k, v in wanted.items())
                 and (query.team_id is None
                      or self.data.audit_teams.get(r["id"]) == query.team_id)]
        return copy.deepcopy(found[:query.limit]), None

    def published(self, audit_ids: set[str]) -> set[str]:
        return audit_ids & self.data.published

    def mark_published(self, audit_id: str, expires: int) -> bool:
        self.data.published.add(audit_id)
        return True


class FakeSpend:
    def __init__(self, data: Data):
        self.data = data

    def claim(self, token: str, request_id: str, note: Item, expires: int) -> Item:
        """The note of this key's report `request_id`: `note` if it is the first, else the
        note written first."""
        at = (token, request_id)
        with self.data.lock:
            if at not in self.data.notes:
                self.data.notes[at] = copy.deepcopy(note) | {"entity": "spend_request",
                                                             "token": token, "ttl": expires}
                return note
            return copy.deepcopy(self.data.notes[at])


class FakeReservations:
    """ReservationStore: a reservation put once, moved out of a state on condition that it is
    still in it (recording the move's steps), and the lease index the schedule reads."""

    shards = LEASE_SHARDS

    def __init__(self, data: Data):
        self.data = data

    def get(self, reservation_id: str) -> Item | None:
        return copy.deepcopy(self.data.reservations.get(reservation_id))

    def put_new(self, reservation: Item) -> bool:
        rid = reservation["reservation_id"]
        index = lease_index(rid, reservation.get("team_id"), reservation["expires_at"])
        with self.data.lock:
            if rid in self.data.reservations:
                return False
            self.data.reservations[rid] = copy.deepcopy(reservation)
            self.data.leases[rid] = (int(index["GSI4PK"].split("#")[1]), index["GSI4SK"])
            return True

    def move(self, reservation_id: str, from_state: str, to_state: str, op: str | None = None,
             steps: Item | None = None, fields: Item | None = None) -> bool:
        with self.data.lock:
            stored = self.data.reservations.get(reservation_id)
            if stored is None or stored.get("state") != from_state:
                return False
            stored["state"] = to_state
            if op is not None:
                stored["ops"][op] = copy.deepcopy(steps or {})
            stored.update(copy.deepcopy(fields or {}))
            return True

    def leases(self, shard: int, after: str, until: str,
               start: Item | None) -> tuple[list[Item], Item | None]:
        """The shard's reservations whose lease ends in (after, until], in expiry order (the
        index keeps a reservation whatever its state, as the real one does)."""
        low, high = after + "~", until + "~"
        found = sorted((sk, rid) for rid, (n, sk) in self.data.leases.items()
                       if n == shard and low <= sk <= high)
        return [copy.deepcopy(self.data.reservations[rid]) for _, rid in found
                if rid in self.data.reservations], None

    def lease_mark(self) -> str | None:
        return self.data.lease_mark

    def set_lease_mark(self, until: str) -> None:
        if self.data.lease_mark is None or self.data.lease_mark < until:
            self.data.lease_mark = until


class FakeResets:
    shards = 2  # as the real index, budgets spread over shards; every one is read

    def __init__(self, data: Data):
        self.data = data

    def _budgets(self) -> Iterator[Item]:
        yield from self.data.teams.values()
        yield from self.data.members.values()
        yield from self.data.users.values()
        yield from self.data.keys.values()

    def due(self, shard: int, until: str, start: Item | None) -> tuple[list[Item], Item | None]:
        due = sorted((b for b in self._budgets()
                      if b.get("budget_reset_at") and b["budget_reset_at"] <= until
                      and (b.get("entity") != "team" or b["status"] == ACTIVE)),
                     key=lambda b: b["budget_reset_at"])
        return [copy.deepcopy(b) for b in due if _shard_of(b, self.shards) == shard], None

    def reread(self, item: Item) -> Item | None:
        return copy.deepcopy(self.data.get(ref_of(item)))

    def _at_boundary(self, item: Item) -> bool:
        stored = self.data.get(ref_of(item))
        return stored is not None and stored.get("budget_reset_at") == item["budget_reset_at"] \
            and (item["entity"] != "team" or stored["status"] == ACTIVE)

    def reset(self, tx: FakeTransaction, item: Item, next_reset: str) -> float:
        """Spend 0 on the counter and the next reset time, if the item is still at the boundary
        read; returns the spend that ended."""
        ref = ref_of(item)
        if ref is None:
            raise ValueError(f"not a budget: {item.get('entity')}")
        ended = restart(self.data, tx, ref)

        def apply() -> None:
            stored = self.data.get(ref)
            assert stored is not None
            stored["budget_reset_at"] = next_reset
        tx.write(lambda: self._at_boundary(item), apply, item=ref)
        return ended

    def unschedule(self, tx: FakeTransaction, item: Item) -> None:
        def apply() -> None:
            stored = self.data.get(ref_of(item))
            assert stored is not None
            stored.pop("budget_reset_at", None)
        tx.write(lambda: self._at_boundary(item), apply, item=ref_of(item))


def _shard_of(item: Item, shards: int) -> int:
    """A budget's shard, fixed by what it is (not by its place among what is due now, which
    a run in another shard changes)."""
    return crc32(repr(ref_of(item)).encode()) % shards


class FakeOrders:
    def __init__(self, data: Data):
        self.data = data

    def _matching(self, match: TeamMatch) -> list[Item]:
        return [t for t in self.data.teams.values() if t["status"] == ACTIVE and match.test(t)]

    def teams(self, sort_by: str, descending: bool, match: TeamMatch,
              after: tuple[str, str] | None, wanted: int) -> list[TeamView]:
        """As TeamOrderStore.teams; the spend order is where `place_spend` placed each team
        (as the stream consumer leaves it), not its counter as it is now."""
        if sort_by == "spend":
            placed = self.data.spend_order
            ordered = [t | {"spend_order": spend_order(t["team_id"], placed[t["team_id"]])}
                       for t in self._matching(match) if t["team_id"] in placed]
        else:
            ordered = self._matching(match)
        ordered = sorted(ordered, key=lambda t: sort_key(sort_by, t), reverse=descending)
        if after is not None:
            ordered = [t for t in ordered if (sort_key(sort_by, t) < after[0]) == descending
                       and sort_key(sort_by, t) != after[0]]
        return [roster_view(t) for t in FakeCounters(self.data).fill(
            [copy.deepcopy(t) for t in ordered[:wanted]])]

    def page_with_total(self, sort_by: str, descending: bool, match: TeamMatch,
                        after: tuple[str, str] | None, wanted: int,
                        total: bool = True) -> tuple[list[TeamView], int]:
        """`teams`, and the number of teams (0 unless asked for, as the real store sums no
        shard it did not read)."""
        return (self.teams(sort_by, descending, match, after, wanted),
                self.data.team_count if total else 0)

    def count(self, sort_by: str, match: TeamMatch) -> int:
        return len(self._matching(match))

    def grouped(self, team_ids: list[str] | None) -> Iterator[Item]:
        counters = FakeCounters(self.data)
        for team_id in team_ids if team_ids is not None else sorted(self.data.teams):
            team = self.data.teams.get(team_id)
            if team is None:
                continue
            yield from counters.fill(
                [copy.deepcopy(team)] +
                [copy.deepcopy(m) for (t, _), m in sorted(self.data.members.items())
                 if t == team_id] +
                [copy.deepcopy(k) for k in self.data.keys.values() if k.get("team_id") == team_id])

    def place_spend(self, team_id: str, spend_units: int) -> bool:
        """The team's place in the spend order; skipped if its place is gone (a deleted team)
        or already there."""
        if self.data.spend_order.get(team_id, spend_units) == spend_units:
            return False
        self.data.spend_order[team_id] = spend_units
        return True


class FakeItems:
    def __init__(self, data: Data):
        self.data = data

    def read(self, refs: Iterable[Ref]) -> dict[Ref, Item]:
        found = {ref: self.data.get(ref) for ref in dict.fromkeys(refs)}
        counters = FakeCounters(self.data)
        return {ref: counters.fill([copy.deepcopy(item)])[0]
                for ref, item in found.items() if item is not None}


class FakeStores:
    """The set `teamledger.store.use()` installs: the same attributes as `Stores`."""

    def __init__(self) -> None:
        self.data = Data()
        self.before_commit: list[Callable[[], None]] = []
        self.before_step: list[Callable[[Step], None]] = []
        self.teams = FakeTeams(self.data)
        self.members = FakeMembers(self.data)
        self.users = FakeUsers(self.data)
        self.keys = FakeKeys(self.data)
        self.audit = FakeAudit(self.data)
        self.spend = FakeSpend(self.data)
        self.counters = FakeCounters(self.data, self.before_step)
        self.reservations = FakeReservations(self.data)
        self.resets = FakeResets(self.data)
        self.orders = FakeOrders(self.data)
        self.items = FakeItems(self.data)

    def transaction(self) -> FakeTransaction:
        return FakeTransaction(self.data, self.before_commit)
