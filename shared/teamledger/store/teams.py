"""TeamStore: the team item, its roster (a bounded copy of its members for the list routes, in
an item of its own beside the team item), the team counter, and the conditions that keep a
deleted team from taking new writes.

The roster is not on the team item: a 500-member roster is about 40 KB, and the team item is
in three ALL-projection indexes and is read on every call of a team's keys (its gate). On its
own item, a member change rewrites the roster in the table only, and the team item stays about
1 KB. Reads that show members get the roster item beside the team item (the team partition's
Query, or the same BatchGetItem).

The roster's bounds hold in the table, not only in the request that reckoned them: it holds at
most ROSTER_LIMIT entries and ROSTER_BYTES of them (an item holds 400 KB; 500 entries of the
longest ids and emails in bytes take about 337 KB, but an email stored before it was limited in
bytes can take 1.3 KB). Each entry carries its `size` (an upper bound of what it adds to the
item) and the item their sum, `roster_bytes`.
An add reckons its room from the roster as last read (the team dict's `roster` and
`roster_bytes`) and conditions its update on that room still being there (`size(roster)` and
`roster_bytes`); if another add took it meanwhile, the transaction is cancelled with
RosterChanged, the roster is read again into the team dict, and a retry reckons anew. A member
that does not fit is added all the same, only not copied onto the roster."""

import random
from dataclasses import dataclass, field

from teamledger import money
from teamledger.errors import ServiceError, TransactionCancelled
from teamledger.store import alias_words, counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.refs import TeamRef
from teamledger.store.table import Transaction

ACTIVE, DELETING = "active", "deleting"
ROSTER_LIMIT = 500  # members copied onto the roster item for the list routes
# What the entries may add up to (by ROSTER_ENTRY_OVERHEAD's reckoning): the item's other
# attributes (keys and team id, at most about 2.1 KB) and this stay far under DynamoDB's 400 KB.
ROSTER_BYTES = 380_000
# An entry beyond its id, email and join order: the names user_email, role, order and size,
# the longest role, the size's number and DynamoDB's map and element overheads (about 60).
ROSTER_ENTRY_OVERHEAD = 64


class RosterChanged(TransactionCancelled):
    """The roster had less room than the add reckoned (another add took it meanwhile): the
    team dict's roster has been read again; running the add again reckons anew."""


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
        roster_bytes = None
        for item in table.Query(keys.team_partition(team_id), consistent=True).all():
            if item.get("entity") == "team":
                team = keys.without_keys(item)
            elif item.get("entity") == "roster":
                roster = item.get("roster") or {}
                roster_bytes = item.get("roster_bytes")
            elif item.get("entity") == "member":
                members.append(keys.without_keys(item))
            elif item.get("entity") == "counter":
                spend = item.get("spend", 0)
        if team is None or (team.get("status") != ACTIVE and not include_deleting):
            return None
        team["roster"] = roster
        team["roster_bytes"] = _bytes_of(roster, roster_bytes)
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
        alias_words.put(tx, team)
        entries = fitting({}, 0, members)
        tx.put(keys.roster(team["team_id"]) | {
            "entity": "roster", "team_id": team["team_id"], "roster": entries,
            "roster_bytes": _bytes_of(entries)})
        self.count(tx, +1)
        tx.put(keys.spend_order_item(team["team_id"]) | keys.spend_index(team["team_id"], 0) |
               {"entity": "spend_order", "team_id": team["team_id"], "spend": 0})

    def check_active(self, tx: Transaction, team_id: str,
                     refusal: ServiceError | None = None) -> None:
        tx.check(keys.team(team_id), **_ACTIVE_CONDITION, refusal=refusal)

    def rosters(self, team_ids: list[str]) -> dict[str, Item]:
        """The rosters of `team_ids` as add_to_roster reckons with them (`team_id`, `roster`,
        `roster_bytes`), one BatchGetItem per 100; a team without one is left out."""
        return {i["team_id"]: {"team_id": i["team_id"], "roster": i.get("roster") or {},
                               "roster_bytes": _bytes_of(i.get("roster") or {},
                                                         i.get("roster_bytes"))}
                for i in table.batch_get([keys.roster(t) for t in dict.fromkeys(team_ids)])
                if i.get("entity") == "roster"}

    def add_to_roster(self, tx: Transaction, team: Item, members: list[Item],
                      refusal: ServiceError | None = None) -> None:
        """The team still active, and the new members on its roster while it has room (see
        the module's doc): the roster never shows a member whose item the same transaction
        does not put, and never holds more than its bounds. The room is reckoned from the
        team dict's roster (read here if it has none); a transaction that finds less is
        cancelled with RosterChanged, the dict's roster read again; once committed, the dict
        holds the new entries too, so that the next add of the same request reckons right."""
        if "roster" not in team:
            team.update(self.rosters([team["team_id"]]).get(team["team_id"]) or {})
        roster = team.get("roster") or {}
        used = _bytes_of(roster, team.get("roster_bytes"))
        entries = fitting(roster, used, members)
        if not entries:
            self.check_active(tx, team["team_id"], refusal)
            return
        added = _bytes_of(entries)
        self.check_active(tx, team["team_id"], refusal)
        names = {"#roster": "roster", "#bytes": "roster_bytes"}
        values: Item = {":added": added, ":most": ROSTER_LIMIT - len(entries),
                        ":room": ROSTER_BYTES - added}
        sets = []
        for n, (user_id, entry) in enumerate(entries.items()):
            names[f"#u{n}"] = user_id
            values[f":m{n}"] = entry
            sets.append(f"#roster.#u{n} = :m{n}")
        tx.update_raw(keys.roster(team["team_id"]), f"SET {', '.join(sets)} ADD #bytes :added",
                      condition="attribute_exists(PK) AND size(#roster) <= :most AND "
                                "(attribute_not_exists(#bytes) OR #bytes <= :room)",
                      names=names, values=values,
                      refusal=lambda cancelled: self._roster_changed(team, cancelled))
        tx.after_commit(lambda: _note_added(team, entries))

    def _roster_changed(self, team: Item, cancelled: TransactionCancelled) -> RosterChanged:
        team.update(self.rosters([team["team_id"]]).get(team["team_id"]) or {
            "roster": {}, "roster_bytes": 0})
        return RosterChanged(cancelled.reasons)

    def remove_from_roster(self, tx: Transaction, team_id: str, user_id: str) -> None:
        """The member off the roster, if it is on it, and its size off the roster's bytes (0
        if it is not: the entry's own `size`, read by the update itself)."""
        self.check_active(tx, team_id)
        tx.update_raw(
            keys.roster(team_id),
            "REMOVE #roster.#u SET #bytes = if_not_exists(#bytes, :zero) - "
            "if_not_exists(#roster.#u.#size, :zero)",
            condition="attribute_exists(PK)", values={":zero": 0},
            names={"#roster": "roster", "#u": user_id, "#bytes": "roster_bytes",
                   "#size": "size"})

    def set_roster_role(self, tx: Transaction, team: Item, user_id: str, role: str) -> None:
        """A member's new role on the roster, if it is on it (its size counts the longer
        role already)."""
        self.check_active(tx, team["team_id"])
        if user_id in (team.get("roster") or {}):
            tx.update_raw(keys.roster(team["team_id"]), "SET #roster.#u.#role = :role",
                          condition="attribute_exists(PK)", values={":role": role},
                          names={"#roster": "roster", "#u": user_id, "#role": "role"})

    def update(self, tx: Transaction, team: Item, changes: Item) -> Item:
        """Write `changes` on condition that the team is active and still the version read;
        returns the new item. The orders and the reset index follow the fields they hold."""
        new = team | changes | {"version": team["version"] + 1}
        written = {k: v for k, v in changes.items() if k != "spend"} | {"version": new["version"]}
        ref = TeamRef(team["team_id"])
        # The alias order's key on every write, not only when the alias changes: a team item
        # written with an older encoding of that key is re-indexed by its next change.
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
        alias_words.move(tx, team, new)  # in this transaction: the version condition holds it
        return {k: v for k, v in new.items() if v is not None}

    def mark_deleting(self, tx: Transaction, team: Item, now: str) -> None:
        """The team vanishes from every read and its keys stop authenticating."""
        tx.update(keys.team(team["team_id"]), {"status": DELETING, "updated_at": now,
                                               **dict.fromkeys(keys.INDEX_ATTRIBUTES)},
                  **_ACTIVE_CONDITION)
        tx.reckon(team)  # a team may be large (metadata, models): it counts to the 4 MB
        alias_words.remove(tx, team)

    @staticmethod
    def mark_writes(team: Item) -> int:
        """The writes `mark_deleting` adds to a transaction for this team."""
        return 1 + alias_words.writes(team)

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
    entry = {"user_email": member.get("user_email"), "role": member["role"],
             "order": f"{member.get('joined_at', '')}#{member.get('join_order', 0):06d}"}
    return entry | {"size": entry_size(member["user_id"], entry)}


def entry_size(user_id: str, entry: Item) -> int:
    """An upper bound of what a roster entry adds to the item, in DynamoDB's bytes (UTF-8):
    its id (the map key), email and order, and ROSTER_ENTRY_OVERHEAD for the rest (the role
    as the longer one, so a role change never changes it)."""
    texts = (user_id, entry.get("user_email") or "", entry.get("order") or "")
    return sum(len(text.encode("utf-8", "surrogatepass")) for text in texts) + \
        ROSTER_ENTRY_OVERHEAD


def _bytes_of(roster: Item, stored: int | None = None) -> int:
    """The roster's bytes: as stored on its item, else (an item from before the count) the
    sum of its entries' sizes."""
    if stored is not None:
        return int(stored)
    return sum(int(e.get("size") or entry_size(u, e)) for u, e in roster.items())


def fitting(roster: Item, used: int, members: list[Item]) -> Item:
    """The entries of `members` that fit on a roster of `roster`'s entries and `used` bytes,
    in order: the first that does not fit ends them (the roster holds the first members)."""
    entries: Item = {}
    for member in members:
        entry = _roster_entry(member)
        if len(roster) + len(entries) >= ROSTER_LIMIT or used + entry["size"] > ROSTER_BYTES:
            break
        entries[member["user_id"]] = entry
        used += entry["size"]
    return entries


def _note_added(team: Item, entries: Item) -> None:
    """After a commit: the team dict's roster as the table now has it (as far as we know)."""
    team["roster"] = (team.get("roster") or {}) | entries
    team["roster_bytes"] = int(team.get("roster_bytes") or 0) + _bytes_of(entries)


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
