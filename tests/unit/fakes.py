"""In-memory fakes of the stores (teamledger.store), for unit tests of the domain without moto.

They keep the promises the DynamoDB stores keep, in the same words: a transaction checks every
condition first and then applies all of its writes or none; a failed condition cancels it with
the error its write named (its refusal) or a TransactionCancelled the domain's retry loop takes
as a lost race. Reads hand out copies, as a real read would: changing one changes nothing
stored. `FakeTransaction.before_commit` lets a test play a concurrent writer that lands between
a request's reads and its commit.

What they do not model: capacity, throttling, item sizes, index projections, paging, and the
exact order of a Query beyond what a test relies on (members by user id, as their sort keys).
"""

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from teamledger.errors import ServiceError, TransactionCancelled
from teamledger.store.keys import ref_of
from teamledger.store.refs import MemberRef, Ref, TeamRef, UserRef
from teamledger.store.team_orders import TeamMatch, sort_key
from teamledger.store.teams import ACTIVE, DELETING, ROSTER_LIMIT, TeamView

Item = dict[str, Any]


@dataclass
class Data:
    """Everything stored, by entity."""

    teams: dict[str, Item] = field(default_factory=dict)
    members: dict[tuple[str, str], Item] = field(default_factory=dict)
    users: dict[str, Item] = field(default_factory=dict)
    keys: dict[str, Item] = field(default_factory=dict)
    audit: list[Item] = field(default_factory=list)
    published: set[str] = field(default_factory=set)
    counted: set[tuple[str, str]] = field(default_factory=set)  # spend reports' request ids
    team_count: int = 0
    commits: int = 0

    def get(self, ref: Ref) -> Item | None:
        if isinstance(ref, TeamRef):
            return self.teams.get(ref.team_id)
        if isinstance(ref, MemberRef):
            return self.members.get((ref.team_id, ref.user_id))
        if isinstance(ref, UserRef):
            return self.users.get(ref.user_id)
        return self.keys.get(ref.token)

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


@dataclass
class _Write:
    holds: Callable[[], bool]
    apply: Callable[[], None]
    refusal: ServiceError | None


class FakeTransaction:
    def __init__(self, data: Data, before_commit: list[Callable[[], None]]):
        self.data = data
        self.writes: list[_Write] = []
        self._before_commit = before_commit

    def __len__(self) -> int:
        return len(self.writes)

    def write(self, holds: Callable[[], bool], apply: Callable[[], None],
              refusal: ServiceError | None = None) -> None:
        self.writes.append(_Write(holds, apply, refusal))

    def commit(self) -> None:
        if not self.writes:
            return
        hooks = list(self._before_commit)  # a hook may queue one for the next commit
        self._before_commit.clear()
        for hook in hooks:
            hook()  # a concurrent writer gets there first
        held = [w.holds() for w in self.writes]
        if not all(held):
            refused = next((w.refusal for w, ok in zip(self.writes, held, strict=True)
                            if not ok and w.refusal is not None), None)
            if refused is not None:
                raise refused
            raise TransactionCancelled(["None" if ok else "ConditionalCheckFailed"
                                        for ok in held])
        for w in self.writes:
            w.apply()
        self.data.commits += 1


class FakeTeams:
    def __init__(self, data: Data):
        self.data = data

    def load(self, team_id: str, *, include_deleting: bool = False) -> TeamView | None:
        team = self.data.teams.get(team_id)
        if team is None or (team["status"] != ACTIVE and not include_deleting):
            return None
        members = [copy.deepcopy(m) for (t, _), m in sorted(self.data.members.items())
                   if t == team_id]
        return TeamView(copy.deepcopy(team), members)

    def listed(self, team_ids: list[str]) -> list[TeamView]:
        found = [self.data.teams.get(t) for t in dict.fromkeys(team_ids)]
        return [roster_view(t) for t in found if t is not None and t["status"] == ACTIVE]

    def total(self) -> int:
        return self.data.team_count

    def gate(self, team_id: str) -> Item | None:
        team = self.data.teams.get(team_id)
        return {"status": team["status"], "blocked": team.get("blocked")} if team else None

    def put_new(self, tx: FakeTransaction, team: Item, members: list[Item],
                refusal: ServiceError) -> None:
        def apply() -> None:
            self.data.teams[team["team_id"]] = {
                "entity": "team", "status": ACTIVE, "version": 1,
                "roster": {m["user_id"]: _roster_entry(m) for m in members[:ROSTER_LIMIT]},
            } | _present(copy.deepcopy(team))
        tx.write(lambda: team["team_id"] not in self.data.teams, apply, refusal)
        self.count(tx, +1)

    def _active(self, team_id: str) -> bool:
        team = self.data.teams.get(team_id)
        return team is not None and team["status"] == ACTIVE

    def check_active(self, tx: FakeTransaction, team_id: str,
                     refusal: ServiceError | None = None) -> None:
        tx.write(lambda: self._active(team_id), lambda: None, refusal)

    def add_to_roster(self, tx: FakeTransaction, team: Item, members: list[Item],
                      refusal: ServiceError | None = None) -> None:
        room = max(0, ROSTER_LIMIT - len(team.get("roster") or {}))
        entries = {m["user_id"]: _roster_entry(m) for m in members[:room]}
        tx.write(lambda: self._active(team["team_id"]),
                 lambda: self.data.teams[team["team_id"]]["roster"].update(entries), refusal)

    def remove_from_roster(self, tx: FakeTransaction, team_id: str, user_id: str) -> None:
        tx.write(lambda: self._active(team_id),
                 lambda: self.data.teams[team_id]["roster"].pop(user_id, None))

    def set_roster_role(self, tx: FakeTransaction, team: Item, user_id: str, role: str) -> None:
        def apply() -> None:
            entry = self.data.teams[team["team_id"]]["roster"].get(user_id)
            if entry is not None:
                entry["role"] = role
        tx.write(lambda: self._active(team["team_id"]), apply)

    def update(self, tx: FakeTransaction, team: Item, changes: Item) -> Item:
        team_id = team["team_id"]

        def holds() -> bool:
            stored = self.data.teams.get(team_id)
            return stored is not None and stored["status"] == ACTIVE and \
                stored["version"] == team["version"]

        def apply() -> None:
            stored = self.data.teams[team_id]
            _set(stored, copy.deepcopy(changes))
            stored["version"] += 1
        tx.write(holds, apply)
        return _present(team | changes | {"version": team["version"] + 1})

    def mark_deleting(self, tx: FakeTransaction, team: Item, now: str) -> None:
        tx.write(lambda: self._active(team["team_id"]),
                 lambda: self.data.teams[team["team_id"]].update(status=DELETING, updated_at=now))

    def delete_deleting(self, tx: FakeTransaction, team_id: str) -> None:
        tx.write(lambda: (self.data.teams.get(team_id) or {}).get("status") == DELETING,
                 lambda: self.data.teams.pop(team_id))

    def count(self, tx: FakeTransaction, delta: int) -> None:
        def apply() -> None:
            self.data.team_count += delta
        tx.write(lambda: True, apply)


def _roster_entry(member: Item) -> Item:
    return {"user_email": member.get("user_email"), "role": member["role"],
            "order": f"{member.get('joined_at', '')}#{member.get('join_order', 0):06d}"}


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
                 lambda: self.data.members.__setitem__(at, _present(copy.deepcopy(member)) | {
                     "entity": "member", "version": 1}), refusal)

    def update(self, tx: FakeTransaction, member: Item, changes: Item) -> Item:
        at = (member["team_id"], member["user_id"])

        def holds() -> bool:
            stored = self.data.members.get(at)
            return stored is not None and stored.get("version") == member.get("version")

        def apply() -> None:
            stored = self.data.members[at]
            _set(stored, copy.deepcopy(changes))
            stored["version"] = member.get("version", 0) + 1
        tx.write(holds, apply)
        return _present(member | changes | {"version": member.get("version", 0) + 1})

    def delete(self, tx: FakeTransaction, member: Item) -> None:
        at = (member["team_id"], member["user_id"])
        tx.write(lambda: at in self.data.members, lambda: self.data.members.pop(at))

    def roles_of(self, user_id: str | None, team_ids: set[str]) -> dict[str, str]:
        return {t: m["role"] for (t, u), m in self.data.members.items()
                if u == user_id and t in team_ids}

    def team_ids_of(self, user_id: str) -> list[str]:
        return sorted(t for t, u in self.data.members if u == user_id)


class FakeUsers:
    def __init__(self, data: Data):
        self.data = data

    def get(self, user_id: str) -> Item | None:
        return copy.deepcopy(self.data.users.get(user_id))

    def find_by_email(self, user_email: str, limit: int = 2) -> list[Item]:
        return [copy.deepcopy(u) for u in self.data.users.values()
                if (u.get("user_email") or "").lower() == user_email.lower()][:limit]

    def put_new(self, tx: FakeTransaction, user: Item,
                refusal: ServiceError | None = None) -> None:
        tx.write(lambda: user["user_id"] not in self.data.users,
                 lambda: self.data.users.__setitem__(
                     user["user_id"], _present(copy.deepcopy(user)) | {"entity": "user"}),
                 refusal)

    def links(self, user_id: str) -> tuple[list[str], list[Item]]:
        return (FakeMembers(self.data).team_ids_of(user_id),
                [copy.deepcopy(k) for k in self.data.keys.values() if k.get("user_id") == user_id])


class FakeKeys:
    def __init__(self, data: Data):
        self.data = data

    def get(self, token: str) -> Item | None:
        return copy.deepcopy(self.data.keys.get(token))

    def for_auth(self, token: str) -> Item | None:
        return self.get(token)

    def of_team(self, team_id: str) -> list[Item]:
        return [copy.deepcopy(k) for k in self.data.keys.values() if k.get("team_id") == team_id]

    def put_new(self, tx: FakeTransaction, key: Item) -> None:
        tx.write(lambda: key["token"] not in self.data.keys,
                 lambda: self.data.keys.__setitem__(
                     key["token"], _present(copy.deepcopy(key)) | {"entity": "key"}))

    def delete(self, tx: FakeTransaction, key: Item, refusal: ServiceError | None = None) -> None:
        tx.write(lambda: key["token"] in self.data.keys,
                 lambda: self.data.keys.pop(key["token"]), refusal)


class FakeAudit:
    def __init__(self, data: Data):
        self.data = data

    def record(self, tx: FakeTransaction, log: Item) -> None:
        tx.write(lambda: True, lambda: self.data.audit.append(copy.deepcopy(log)))

    def page(self, query: Any, cursor: str | None) -> tuple[list[Item], str | None]:
        wanted = {k: getattr(query, k) for k in ("object_id", "table_name", "action",
                                                  "changed_by") if getattr(query, k)}
        found = [r for r in reversed(self.data.audit)
                 if all(r.get(k) == v for k, v in wanted.items())]
        return copy.deepcopy(found[:query.limit]), None

    def published(self, audit_ids: set[str]) -> set[str]:
        return audit_ids & self.data.published

    def mark_published(self, audit_id: str, expires: int) -> bool:
        self.data.published.add(audit_id)
        return True


class FakeSpend:
    def __init__(self, data: Data):
        self.data = data

    def claim(self, tx: FakeTransaction, token: str, request_id: str, expires: int) -> None:
        tx.write(lambda: (token, request_id) not in self.data.counted,
                 lambda: self.data.counted.add((token, request_id)))

    def add(self, tx: FakeTransaction, ref: Ref, amount: float) -> None:
        def holds() -> bool:
            item = self.data.get(ref)
            return item is not None and (not isinstance(ref, TeamRef) or item["status"] == ACTIVE)

        def apply() -> None:
            item = self.data.get(ref)
            assert item is not None
            item["spend"] = round(item.get("spend", 0.0) + amount, 10)
        tx.write(holds, apply)


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
        return [copy.deepcopy(b) for n, b in enumerate(due) if n % self.shards == shard], None

    def reread(self, item: Item) -> Item | None:
        return copy.deepcopy(self.data.get(ref_of(item)))

    def _at_boundary(self, item: Item) -> bool:
        stored = self.data.get(ref_of(item))
        return stored is not None and stored.get("budget_reset_at") == item["budget_reset_at"] \
            and (item["entity"] != "team" or stored["status"] == ACTIVE)

    def reset(self, tx: FakeTransaction, item: Item, next_reset: str) -> None:
        def apply() -> None:
            stored = self.data.get(ref_of(item))
            assert stored is not None
            stored.update(spend=0.0, budget_reset_at=next_reset)
        tx.write(lambda: self._at_boundary(item), apply)

    def unschedule(self, tx: FakeTransaction, item: Item) -> None:
        def apply() -> None:
            stored = self.data.get(ref_of(item))
            assert stored is not None
            stored.pop("budget_reset_at", None)
        tx.write(lambda: self._at_boundary(item), apply)


class FakeOrders:
    def __init__(self, data: Data):
        self.data = data

    def _matching(self, match: TeamMatch) -> list[Item]:
        def ok(team: Item) -> bool:
            if team["status"] != ACTIVE:
                return False
            if match.no_organization and team.get("organization_id") is not None:
                return False
            if match.organization_id is not None and \
                    team.get("organization_id") != match.organization_id:
                return False
            alias = (team.get("team_alias") or "").lower()
            return not match.alias_contains or match.alias_contains.lower() in alias
        return [t for t in self.data.teams.values() if ok(t)]

    def teams(self, sort_by: str, descending: bool, match: TeamMatch,
              after: tuple[str, str] | None, wanted: int) -> Iterator[TeamView]:
        ordered = sorted(self._matching(match), key=lambda t: sort_key(sort_by, t),
                         reverse=descending)
        if after is not None:
            ordered = [t for t in ordered if (sort_key(sort_by, t) < after[0]) == descending
                       and sort_key(sort_by, t) != after[0]]
        yield from (roster_view(t) for t in ordered[:wanted])

    def count(self, sort_by: str, match: TeamMatch) -> int:
        return len(self._matching(match))

    def grouped(self, team_ids: list[str] | None) -> Iterator[Item]:
        for team_id in team_ids if team_ids is not None else sorted(self.data.teams):
            team = self.data.teams.get(team_id)
            if team is None:
                continue
            yield copy.deepcopy(team)
            yield from (copy.deepcopy(m) for (t, _), m in sorted(self.data.members.items())
                        if t == team_id)
            yield from (copy.deepcopy(k) for k in self.data.keys.values()
                        if k.get("team_id") == team_id)

    def place_spend(self, team_id: str, spend: float) -> bool:
        return True  # the order is computed from the spend itself in `teams`


class FakeItems:
    def __init__(self, data: Data):
        self.data = data

    def read(self, refs: Iterable[Ref]) -> dict[Ref, Item]:
        found = {ref: self.data.get(ref) for ref in dict.fromkeys(refs)}
        return {ref: copy.deepcopy(item) for ref, item in found.items() if item is not None}


class FakeStores:
    """The set `teamledger.store.use()` installs: the same attributes as `Stores`."""

    def __init__(self) -> None:
        self.data = Data()
        self.before_commit: list[Callable[[], None]] = []
        self.teams = FakeTeams(self.data)
        self.members = FakeMembers(self.data)
        self.users = FakeUsers(self.data)
        self.keys = FakeKeys(self.data)
        self.audit = FakeAudit(self.data)
        self.spend = FakeSpend(self.data)
        self.resets = FakeResets(self.data)
        self.orders = FakeOrders(self.data)
        self.items = FakeItems(self.data)

    def transaction(self) -> FakeTransaction:
        return FakeTransaction(self.data, self.before_commit)
