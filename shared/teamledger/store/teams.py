"""TeamStore: the team item, its roster (a bounded copy of its members for the list routes, in
an item of its own beside the team item), the team counter, and the conditions that keep a
deleted team from taking new writes.

The roster is not on the team item: a 500-member roster is about 40 KB, and the team item is
in three ALL-projection indexes and is read on every call of a team's keys (its gate). On its
own item, a member change rewrites the roster in the table only, and the team item stays about
1 KB. Reads that show members get the roster item beside the team item (the team partition's
Query, or the same BatchGetItem)."""

import random
from dataclasses import dataclass, field

from teamledger import money
from teamledger.errors import ServiceError
from teamledger.store import counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.refs import TeamRef
from teamledger.store.table import Transaction

ACTIVE, DELETING = "active", "deleting"
ROSTER_LIMIT = 500  # members copied onto the team item for the list routes


@dataclass
class TeamView:
    """A team item and member items of it: all of them (`load`), the roster's (`listed`), or
    only the ones a request asked for."""

    team: Item
    members: list[Item] = field(default_factory=list)

    @property
    def team_id(self) -> str:
        return str(self.team["team_id"])

    def role_of(self, user_id: str | None) -> str | None:
        return next((m["role"] for m in self.members if m["user_id"] == user_id), None)

    def member(self, user_id: str) -> Item | None:
        return next((m for m in self.members if m["user_id"] == user_id), None)


_ACTIVE_CONDITION: Item = {"condition": "#status = :active", "names": {"#status": "status"},
                           "values": {":active": ACTIVE}}


class TeamStore:
    # --- reads ---------------------------------------------------------------------------

    def load(self, team_id: str, *, include_deleting: bool = False) -> TeamView | None:
        """Team (with its spend: its counter is in the partition) + members + memberships in
        one (paged) consistent Query of its partition. The memberships' spend is not in it
        (their counters have a partition of their own): CounterStore.fill reads it."""
        team, members, spend, roster = None, [], 0, {}  # type: ignore[var-annotated]
        for item in table.Query(keys.team_partition(team_id), consistent=True).all():
            if item.get("entity") == "team":
                team = keys.without_keys(item)
            elif item.get("entity") == "roster":
                roster = item.get("roster") or {}
            elif item.get("entity") == "member":
                members.append(keys.without_keys(item))
            elif item.get("entity") == "counter":
                spend = item.get("spend", 0)
        if team is None or (team.get("status") != ACTIVE and not include_deleting):
            return None
        team["roster"] = roster
        team["spend"] = money.usd(spend)
        return TeamView(team, members)

    def listed(self, team_ids: list[str]) -> list[TeamView]:
        """Active teams among `team_ids`, in that order, with the members of their roster:
        one BatchGetItem per 100 teams, not a Query per team."""
        ids = list(dict.fromkeys(team_ids))
        read = counters.CounterStore().read_with_spend([keys.team(t) for t in ids],
                                                       along=[keys.roster(t) for t in ids])
        found = with_rosters(read)
        return [roster_view(found[t]) for t in ids if t in found]

    def total(self) -> int:
        """The number of teams: the sum of the counter shards (one BatchGetItem)."""
        shards = table.batch_get([keys.team_counter_shard(n) for n in range(keys.COUNTER_SHARDS)])
        return int(sum(s.get("team_count", 0) for s in shards))

    def gate(self, team_id: str, more: tuple[str, ...] = ()) -> Item | None:
        """What authentication needs of a key's team: whether it is active and not blocked
        (and `more` of its fields: a reserve's models and limits)."""
        return table.get(keys.team(team_id), attributes=("blocked", "status", *more))

    # --- writes --------------------------------------------------------------------------

    def put_new(self, tx: Transaction, team: Item, members: list[Item],
                refusal: ServiceError) -> None:
        """A new team (refused if its id exists), counted, with its first members on the
        roster (their member items are MemberStore's)."""
        key = keys.team(team["team_id"])
        item = key | keys.team_index(team) | keys.reset_index(key, team.get("budget_reset_at")) | {
            "entity": "team", "status": ACTIVE, "version": 1} | {
            k: v for k, v in team.items() if k not in ("spend", "roster")}
        tx.put({k: v for k, v in item.items() if v is not None},
               condition="attribute_not_exists(PK)", refusal=refusal)
        tx.put(keys.roster(team["team_id"]) | {
            "entity": "roster", "team_id": team["team_id"],
            "roster": {m["user_id"]: _roster_entry(m) for m in members[:ROSTER_LIMIT]}})
        self.count(tx, +1)
        tx.put(keys.spend_order_item(team["team_id"]) | keys.spend_index(team["team_id"], 0) |
               {"entity": "spend_order", "team_id": team["team_id"], "spend": 0})

    def check_active(self, tx: Transaction, team_id: str,
                     refusal: ServiceError | None = None) -> None:
        tx.check(keys.team(team_id), **_ACTIVE_CONDITION, refusal=refusal)

    def add_to_roster(self, tx: Transaction, team: Item, members: list[Item],
                      refusal: ServiceError | None = None) -> None:
        """The team still active, and the new members on its roster while it has room: the
        roster never shows a member whose item the same transaction does not put."""
        room = max(0, ROSTER_LIMIT - len(team.get("roster") or {}))
        entries = {m["user_id"]: _roster_entry(m) for m in members[:room]}
        self._roster_update(tx, team["team_id"], "SET", entries, refusal=refusal)

    def remove_from_roster(self, tx: Transaction, team_id: str, user_id: str) -> None:
        self._roster_update(tx, team_id, "REMOVE", {user_id: None})

    def set_roster_role(self, tx: Transaction, team: Item, user_id: str, role: str) -> None:
        if user_id not in (team.get("roster") or {}):
            self.check_active(tx, team["team_id"])
        else:
            self._roster_update(tx, team["team_id"], "SET", {user_id: role}, field="role")

    def _roster_update(self, tx: Transaction, team_id: str, verb: str, entries: Item,
                       field: str | None = None, refusal: ServiceError | None = None) -> None:
        if not entries:
            self.check_active(tx, team_id, refusal)
            return
        names = {"#roster": "roster"}
        values: Item = {}
        paths = []
        for n, (user_id, value) in enumerate(entries.items()):
            names[f"#u{n}"] = user_id
            path = f"#roster.#u{n}" + (".#field" if field else "")
            paths.append(f"{path} = :m{n}" if verb == "SET" else path)
            if verb == "SET":
                values[f":m{n}"] = value
        if field:
            names["#field"] = field
        self.check_active(tx, team_id, refusal)
        tx.update_raw(keys.roster(team_id), f"{verb} {', '.join(paths)}",
                      condition="attribute_exists(PK)", names=names, values=values or None)

    def update(self, tx: Transaction, team: Item, changes: Item) -> Item:
        """Write `changes` on condition that the team is active and still the version read;
        returns the new item. The orders and the reset index follow the fields they hold."""
        new = team | changes | {"version": team["version"] + 1}
        written = {k: v for k, v in changes.items() if k != "spend"} | {"version": new["version"]}
        ref = TeamRef(team["team_id"])
        if "team_alias" in changes:
            written |= keys.alias_index(team["team_id"], new.get("team_alias"))
        if "spend" in changes or "max_budget" in changes:  # a new period restarts the counter
            counters.rewrite(tx, ref, budget=changes.get("max_budget", counters.KEEP),
                             restart="spend" in changes)
        if "budget_reset_at" in changes:
            written |= {"GSI4PK": None, "GSI4SK": None} | keys.reset_index(
                keys.team(team["team_id"]), new.get("budget_reset_at"))
        tx.update(keys.team(team["team_id"]), written,
                  condition="#version = :v AND #status = :active",
                  names={"#version": "version", "#status": "status"},
                  values={":v": team["version"], ":active": ACTIVE})
        return {k: v for k, v in new.items() if v is not None}

    def mark_deleting(self, tx: Transaction, team: Item, now: str) -> None:
        """The team vanishes from every read and its keys stop authenticating."""
        tx.update(keys.team(team["team_id"]), {"status": DELETING, "updated_at": now,
                                               **dict.fromkeys(keys.INDEX_ATTRIBUTES)},
                  **_ACTIVE_CONDITION)

    def delete_deleting(self, tx: Transaction, team_id: str) -> None:
        counters.delete(tx, TeamRef(team_id))
        tx.delete(keys.roster(team_id))
        tx.delete(keys.spend_order_item(team_id))
        tx.delete(keys.team(team_id), condition="#status = :deleting",
                  names={"#status": "status"}, values={":deleting": DELETING})

    def count(self, tx: Transaction, delta: int) -> None:
        tx.add(keys.team_counter_shard(random.randrange(keys.COUNTER_SHARDS)),
               {"team_count": delta})


def _roster_entry(member: Item) -> Item:
    return {"user_email": member.get("user_email"), "role": member["role"],
            "order": f"{member.get('joined_at', '')}#{member.get('join_order', 0):06d}"}


def with_rosters(items: list[Item]) -> dict[str, Item]:
    """Active team items by id, each with the roster of its roster item (read beside it)."""
    rosters = {i["team_id"]: i.get("roster") or {} for i in items if i.get("entity") == "roster"}
    return {i["team_id"]: i | {"roster": rosters.get(i["team_id"], {})} for i in items
            if i.get("entity") == "team" and i.get("status") == ACTIVE}


def roster_view(item: Item) -> TeamView:
    """A team item with the members of its roster (the first ROSTER_LIMIT; /team/info reads
    them all), in the order they joined."""
    roster = sorted((item.get("roster") or {}).items(), key=lambda e: e[1].get("order", ""))
    members = [{"user_id": user_id, "user_email": entry.get("user_email"), "role": entry["role"]}
               for user_id, entry in roster]
    return TeamView(keys.without_keys(item), members)
