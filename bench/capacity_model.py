"""What one call costs as DynamoDB bills it, and where it lands: the capacity model.

moto does not bill, so the price comes from the requests the layer sends (botocore's hooks on
the layer's own client) and the item images around each write, read with a client of the
bench's own (not counted), priced with template.yaml's index definitions:
- a write costs the larger of the item's old and new image, rounded up to 1 KB, twice inside a
  transaction (a ConditionCheck too); a refused write is billed all the same;
- each GSI that holds the item in its old or new image costs one more write of the projected
  size (rounded up to 1 KB), two when the index key changed; none when neither its key nor a
  projected attribute changed;
- a read costs the whole items read in 4 KB units (half for an eventually consistent one):
  a ProjectionExpression returns less but is billed the same, so a projected GetItem is priced
  by the item as stored; a Query is priced by the items it evaluates (the same Query sent again
  without its filter, projection and Select, from the same start), not the ones it returns.
Every unit is booked on (table or index, partition key value). A partition takes 1,000 WCU/s
and 3,000 RCU/s, so the hottest partition of a call says how many such calls one partition
sustains. Whether every team writes a partition is read from its key value: a value holding
none of the call's own ids (its team, key, users, or a per-call id) is every team's, unless it
is one of a fixed set of shards chosen by the team (`LEASE#n`, `TEAMSBYSPEND#n`): then the
share of teams whose calls can land in it; the same call for a second team confirms it.
"""

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from teamledger.store.keys import LEASE_SHARDS, LEASE_SPREAD, SPEND_ORDER_SHARDS

PARTITION_WCU = 1000
PARTITION_RCU = 3000
TEAM_SHARE = 0.8  # what one team may take of a partition in the per-team rate
# On-demand request units, per million: the prices this model is asked to use (us-east-1's
# list prices before the November 2024 cut; today's are half).
DOLLARS_PER_MILLION_WRU = 1.25
DOLLARS_PER_MILLION_RRU = 0.25
TABLE = "table"


# --- item sizes (DynamoDB's rules: names and values in bytes) ------------------------------

def value_size(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        significant = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(significant) + 1) // 2 + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(inner) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


# --- the table's indexes, from template.yaml ------------------------------------------------

@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()

    def holds(self, item: dict[str, Any] | None) -> bool:
        return bool(item) and self.pk in item and (self.sk is None or self.sk in item)

    def key(self, item: dict[str, Any]) -> tuple:
        return item.get(self.pk, {}).get("S"), item.get(self.sk, {}).get("S") if self.sk else None

    def projected(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.projection == "ALL":
            return item
        names = {"PK", "SK", self.pk, *([self.sk] if self.sk else []), *self.included}
        return {k: v for k, v in item.items() if k in names}


def indexes(template: dict[str, Any]) -> list[Index]:
    found = []
    for gsi in template["Resources"]["Table"]["Properties"].get("GlobalSecondaryIndexes", []):
        schema = {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
        projection = gsi.get("Projection", {})
        found.append(Index(gsi["IndexName"], schema["HASH"], schema.get("RANGE"),
                           projection.get("ProjectionType", "ALL"),
                           tuple(projection.get("NonKeyAttributes", ()))))
    return found


def index_writes(index: Index, old: dict[str, Any] | None,
                 new: dict[str, Any] | None) -> list[tuple[str, int]]:
    """(partition key value, WCU) of each write the index takes for one item's change."""
    held_before, held_after = index.holds(old), index.holds(new)
    if not held_before and not held_after:
        return []
    if held_before and held_after:
        if index.key(old) != index.key(new):
            return [(index.key(old)[0], write_units(item_size(index.projected(old)))),
                    (index.key(new)[0], write_units(item_size(index.projected(new))))]
        if index.projected(old) == index.projected(new):
            return []
    image = new if held_after else old
    return [(index.key(image)[0], write_units(item_size(index.projected(image))))]


# --- the bill of one call ------------------------------------------------------------------

@dataclass
class Bill:
    wcu: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    rcu: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    refused_wcu: float = 0.0  # of `wcu`: writes refused by their condition (billed all the same)

    def write(self, where: str, partition: str, units: float, refused: bool = False) -> None:
        self.wcu[(where, partition)] += units
        if refused:
            self.refused_wcu += units

    def read(self, where: str, partition: str, units: float) -> None:
        self.rcu[(where, partition)] += units

    @property
    def total_wcu(self) -> float:
        return sum(self.wcu.values())

    @property
    def total_rcu(self) -> float:
        return sum(self.rcu.values())


def _key_of(operation: dict[str, Any]) -> dict[str, Any]:
    item = operation.get("Item")
    return {"PK": item["PK"], "SK": item["SK"]} if item else operation["Key"]


def _used(names: dict[str, Any], expression: str) -> dict[str, Any]:
    return {k: v for k, v in names.items() if re.search(re.escape(k) + r"(?![\w])", expression)}


class CapacityRecorder:
    """Prices every call of the layer's client while `recording` (see the module docstring)."""

    HOOKS = (("provide-client-params.dynamodb.*", "_before", "capacity-before"),
             ("after-call.dynamodb.*", "_after", "capacity-after"),
             ("after-call-error.dynamodb.*", "_after_error", "capacity-after-error"))

    def __init__(self, raw_client: Any, index_list: list[Index]):
        self.raw = raw_client  # the bench's own client: its reads are not billed to the call
        self.indexes = index_list
        self.recording = False
        self.bill = Bill()
        self._pending: list[tuple[str, dict[str, Any], dict[str, Any] | None, bool]] = []

    def attach(self, client: Any) -> None:
        for event, method, unique_id in self.HOOKS:
            client.meta.events.register(event, getattr(self, method), unique_id=unique_id)

    def detach(self, client: Any) -> None:
        """Off the client again (the hooks are unique: a later recorder could not attach)."""
        for event, _method, unique_id in self.HOOKS:
            client.meta.events.unregister(event, unique_id=unique_id)

    def start(self) -> None:
        self.bill = Bill()
        self.recording = True

    def stop(self) -> Bill:
        self.recording = False
        return self.bill

    def _image(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.raw.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def _before(self, params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        self._pending = []
        if not self.recording:
            return
        name = model.name
        if name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, operation), = entry.items()
                key = _key_of(operation)
                self._pending.append((kind, operation, self._image(operation["TableName"], key),
                                      True))
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            key = _key_of(params)
            self._pending.append((name, params, self._image(params["TableName"], key), False))
        self._params = params

    def _after(self, parsed: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        if self.recording:  # an error answer (refused, cancelled) comes here too: billed
            self._price(model.name, self._params, None if "Error" in parsed else parsed)

    def _after_error(self, model: Any, **_kwargs: Any) -> None:
        if self.recording:  # no answer at all (a connection error): priced as refused
            self._price(model.name, self._params, None)

    def _price(self, name: str, params: dict[str, Any], parsed: dict[str, Any] | None) -> None:
        for kind, operation, old, transactional in self._pending:
            key = _key_of(operation)
            new = self._image(operation["TableName"], key)
            size = max(item_size(old), item_size(new), item_size(operation.get("Item")))
            units = write_units(size) * (2 if transactional else 1)
            self.bill.write(TABLE, key["PK"]["S"], units, refused=parsed is None)
            if kind in ("ConditionCheck",) or parsed is None:
                continue  # nothing was written: no index takes a write
            for index in self.indexes:
                for partition, index_units in index_writes(index, old, new):
                    self.bill.write(index.name, partition, index_units)
        self._pending = []
        if parsed is not None:
            self._price_reads(name, params, parsed)

    def _price_reads(self, name: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if name == "GetItem":
            item = parsed.get("Item")
            if item and "ProjectionExpression" in params:  # billed by the item as stored
                item = self._image(params["TableName"], params["Key"])
            self.bill.read(TABLE, params["Key"]["PK"]["S"],
                           read_units(item_size(item), bool(params.get("ConsistentRead"))))
        elif name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                found = {(i["PK"]["S"], i["SK"]["S"]): i
                         for i in parsed.get("Responses", {}).get(table, [])}
                for key in request["Keys"]:
                    item = found.get((key["PK"]["S"], key["SK"]["S"]))
                    if item and "ProjectionExpression" in request:
                        item = self._image(table, key)
                    self.bill.read(TABLE, key["PK"]["S"], read_units(
                        item_size(item), bool(request.get("ConsistentRead"))))
        elif name == "Query":
            where = params.get("IndexName") or TABLE
            partition = params["ExpressionAttributeValues"][":pk"]["S"]
            items = parsed.get("Items", [])
            if any(p in params for p in ("FilterExpression", "ProjectionExpression", "Select")):
                items = self._evaluated(params)
            size = sum(item_size(i) for i in items)
            self.bill.read(where, partition,
                           read_units(size, bool(params.get("ConsistentRead"))))

    def _evaluated(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The items a Query read before its filter: the same key condition, start and Limit
        (which counts items evaluated), without the filter, projection and Select."""
        condition = params["KeyConditionExpression"]
        request = {k: v for k, v in params.items()
                   if k in ("TableName", "IndexName", "KeyConditionExpression", "ConsistentRead",
                            "ScanIndexForward", "Limit", "ExclusiveStartKey")}
        request["ExpressionAttributeNames"] = _used(params.get("ExpressionAttributeNames", {}),
                                                    condition)
        request["ExpressionAttributeValues"] = _used(params["ExpressionAttributeValues"],
                                                     condition)
        return list(self.raw.query(**request).get("Items", []))


def dollars_per_million(bill: Bill) -> float:
    return bill.total_wcu * DOLLARS_PER_MILLION_WRU + bill.total_rcu * DOLLARS_PER_MILLION_RRU


# --- where the units land: whose partition is it ----------------------------------------------

OWN, ALL_TEAMS = "own", "all teams"
_PER_CALL_ID = re.compile(r"[0-9a-f]{32,}")  # a reservation id, a hashed request id or token
_SHARDS = {  # (index, prefix): the share of teams whose calls can land in one shard
    ("GSI4", "LEASE#"): f"{LEASE_SPREAD}/{LEASE_SHARDS} of teams",
    ("GSI6", "TEAMSBYSPEND#"): f"1/{SPEND_ORDER_SHARDS} of teams",
}
_SHARD = re.compile(r"^(LEASE#|TEAMSBYSPEND#)\d+$")


def named(partition: str, names: dict[str, str]) -> str:
    """A partition key value with the call's own ids as placeholders (`<team>`, `<key>`...)
    and per-call ids (32+ hex digits) as `<id>`."""
    for value, placeholder in sorted(names.items(), key=lambda e: -len(e[0])):
        partition = partition.replace(value, placeholder)
    return _PER_CALL_ID.sub("<id>", partition)


def role(where: str, label: str) -> str:
    """The partition's part in the call, whichever team or shard: `GSI4:LEASE#<n>`."""
    return f"{where}:{_SHARD.sub(lambda m: m.group(1) + '<n>', label)}"


def sharing(where: str, label: str, other_team: set[tuple[str, str]] | None = None,
            partition: str | None = None) -> str:
    """`own` (a value holding the call's own ids), the share of teams of a fixed shard, or
    `all teams`; a partition the same call also touches for another team is never `own`."""
    shared_too = other_team is not None and (where, partition or label) in other_team
    if "<" in label and not shared_too:
        return OWN
    for (index, prefix), share in _SHARDS.items():
        if where == index and label.startswith(prefix):
            return share
    return ALL_TEAMS


_SHARING_RANK = {ALL_TEAMS: 2, OWN: 0}
TEAM = "<team>"  # the placeholder of the team's id: a partition every call of the team writes


def _rank(part: dict[str, Any]) -> tuple[int, bool]:
    """Ties go to the partition more teams share, then to the team's own (its team-wide one
    over a key's, a user's or a call's)."""
    return _SHARING_RANK.get(part["shared"], 1), TEAM in part["partition"]


def partitions(bill: Bill, other_team: Bill | None, names: dict[str, str]) -> list[dict[str, Any]]:
    """Every partition the call touched: its label, role, units and who else writes it."""
    touched = set(bill.wcu) | set(bill.rcu)
    others = (set(other_team.wcu) | set(other_team.rcu)) if other_team is not None else None
    found = []
    for where, value in sorted(touched):
        label = named(value, names)
        found.append({"where": where, "partition": label, "value": value,
                      "role": role(where, label), "wcu": bill.wcu.get((where, value), 0.0),
                      "rcu": bill.rcu.get((where, value), 0.0),
                      "shared": sharing(where, label, others, value)})
    return found


def _hottest(parts: list[dict[str, Any]], units: str) -> dict[str, Any] | None:
    """The partition with the most `units`; a tie goes to the one more teams share."""
    candidates = [p for p in parts if p[units] > 0]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p[units], _rank(p), p["role"]))


def row(call: str, bill: Bill, other_team: Bill | None = None,
        names: dict[str, str] | None = None, members: int | None = None,
        kind: str = "call") -> dict[str, Any]:
    """One line of the table: the call's totals, its hottest partition (by WCU; by RCU for a
    read-only call), whose it is, and the busiest partition every team's calls write."""
    parts = partitions(bill, other_team, names or {})
    hot = _hottest(parts, "wcu")
    by_reads = hot is None
    if by_reads:
        hot = _hottest(parts, "rcu")
    hot_read = _hottest(parts, "rcu")
    shared = [p for p in parts if p["shared"] == ALL_TEAMS and p["wcu"] > 0]
    shared_reads = [p for p in parts if p["shared"] == ALL_TEAMS and not p["wcu"]]
    busiest = max(shared, key=lambda p: (p["wcu"], p["role"])) if shared else None
    units = (hot["rcu"] if by_reads else hot["wcu"]) if hot else 0.0
    limit = PARTITION_RCU if by_reads else PARTITION_WCU
    return {
        "call": call, "members": members, "kind": kind,
        "wcu": bill.total_wcu, "rcu": bill.total_rcu, "refused_wcu": bill.refused_wcu,
        "hottest": f"{hot['where']}:{hot['partition']}" if hot else "-",
        "hottest_units": units, "hottest_kind": "RCU" if by_reads else "WCU",
        "hottest_shared": hot["shared"] if hot else OWN,
        "calls_per_s": limit / units if units else math.inf,
        "hottest_read": f"{hot_read['where']}:{hot_read['partition']}" if hot_read else "-",
        "hottest_read_rcu": hot_read["rcu"] if hot_read else 0.0,
        "calls_per_s_by_reads": PARTITION_RCU / hot_read["rcu"] if hot_read else math.inf,
        "max_partition_wcu": max((p["wcu"] for p in parts), default=0.0),
        "shared": sorted({f"{p['where']}:{p['partition']}" for p in shared}),
        "shared_reads": sorted({f"{p['where']}:{p['partition']}" for p in shared_reads}),
        "busiest_shared": f"{busiest['where']}:{busiest['partition']}" if busiest else None,
        "busiest_shared_wcu": busiest["wcu"] if busiest else 0.0,
        "all_teams_calls_per_s": PARTITION_WCU / busiest["wcu"] if busiest else math.inf,
        "dollars_per_million": dollars_per_million(bill),
        "partitions": parts,
    }


# --- the targets of the per-call path ----------------------------------------------------------

PAIR, TRACK, TRACK_ID = "reserve+settle pair", "spend/track", "spend/track (request_id)"
PAIR_WCU, TRACK_WCU, PARTITION_KEY_WCU, TEAM_PAIRS_PER_S = 16, 8, 2, 400


@dataclass(frozen=True)
class Target:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def _figures(r: dict[str, Any], units: str) -> tuple:
    by_role: dict[str, float] = defaultdict(float)
    for p in r["partitions"]:
        if p[units]:
            by_role[p["role"]] += p[units]
    return r[units], sorted(by_role.items())


def _of(rows: list[dict[str, Any]], call: str) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r["call"] == call), key=lambda r: r["members"] or 0)


def team_rate(r: dict[str, Any], units: str = "wcu") -> tuple[float, str, float]:
    """One team's pairs/s at TEAM_SHARE of a partition, from the units per pair of the hottest
    partition that every call of the team touches, whichever key or user makes it (its id in
    the value: `TEAM#<team>`, `TEAMSPEND#<team>`): (rate, that partition, its units)."""
    parts = [p for p in r["partitions"] if p["shared"] == OWN and TEAM in p["partition"]
             and p[units]]
    if not parts:
        return math.inf, "-", 0.0
    hot = max(parts, key=lambda p: (p[units], p["role"]))
    limit = PARTITION_WCU if units == "wcu" else PARTITION_RCU
    return TEAM_SHARE * limit / hot[units], f"{hot['where']}:{hot['partition']}", hot[units]


def _path_targets(rows: list[dict[str, Any]], call: str, limit: int) -> list[Target]:
    found = _of(rows, call)
    if not found:
        return [Target(f"{call} measured", False, "no row")]
    sizes = " / ".join(f"{r['members']}" for r in found)
    targets = [
        Target(f"{call} ≤ {limit} WCU (refused writes and indexes included)",
               all(r["wcu"] <= limit for r in found),
               " / ".join(f"{r['wcu']:g}" for r in found) + f" WCU ({sizes} members)"),
        Target(f"{call} ≤ {PARTITION_KEY_WCU} WCU on any one partition key",
               all(r["max_partition_wcu"] <= PARTITION_KEY_WCU for r in found),
               " / ".join(f"{r['max_partition_wcu']:g}" for r in found) + " WCU at most"),
        Target(f"{call}: no partition shared by all teams (written or read)",
               not any(r["shared"] or r["shared_reads"] for r in found),
               "; ".join(f"{r['members']} members: {', '.join(r['shared'] + r['shared_reads'])}"
                         for r in found if r["shared"] or r["shared_reads"]) or
               "every partition is the team's, its key's, its user's or the call's own"
               + _fractions(found)),
    ]
    same_w = len({repr(_figures(r, "wcu")) for r in found}) == 1
    same_r = len({repr(_figures(r, "rcu")) for r in found}) == 1
    targets.append(Target(
        f"{call}: same WCU figures for {sizes} members (in all and per partition)", same_w,
        "the same" if same_w else
        " vs ".join(f"{r['wcu']:g} WCU, {r['hottest']} {r['hottest_units']:g}" for r in found)))
    targets.append(Target(
        f"{call}: same RCU figures for {sizes} members", same_r,
        "the same" if same_r else
        " vs ".join(f"{r['rcu']:g} RCU (hottest read {r['hottest_read']} "
                    f"{r['hottest_read_rcu']:g})" for r in found)))
    return targets


def _fractions(found: list[dict[str, Any]]) -> str:
    shares = sorted({f"{p['role']} ({p['shared']})" for r in found for p in r["partitions"]
                     if p["shared"] not in (OWN, ALL_TEAMS)})
    return f"; fixed shards: {', '.join(shares)}" if shares else ""


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    """The per-call path's targets, checked on the measured rows."""
    found = _path_targets(rows, PAIR, PAIR_WCU)
    for call in (TRACK, TRACK_ID):
        found += _path_targets(rows, call, TRACK_WCU)
    pairs = _of(rows, PAIR)
    for unit, prefix, limit in (("wcu", "", PARTITION_WCU), ("rcu", "(reads) ", PARTITION_RCU)):
        rates = [(r, *team_rate(r, unit)) for r in pairs]
        found.append(Target(
            f"{prefix}one team ≥ {TEAM_PAIRS_PER_S} pairs/s at ≤ {TEAM_SHARE:.0%} of a "
            f"partition's {limit:,} {unit.upper()}/s",
            bool(rates) and all(rate >= TEAM_PAIRS_PER_S for _r, rate, _p, _u in rates),
            "; ".join(f"{r['members']} members: {rate:,.0f}/s ({where}, {units:g} "
                      f"{unit.upper()} per pair)" for r, rate, where, units in rates)))
    return found


# --- the printed table -----------------------------------------------------------------------

def _calls(value: float) -> str:
    return "-" if math.isinf(value) else f"{value:,.0f}"


def report(rows: list[dict[str, Any]]) -> str:
    header = ("call", "members", "WCU", "RCU", "hottest partition", "its units",
              "shared by all teams?", "calls/s on it", "hottest read partition",
              "calls/s by reads", "busiest partition all teams write", "$ per M calls")
    table_rows = [r for r in rows if r["kind"] in ("call", "consumer")]
    lines = [[r["call"], str(r["members"] or "-"), f"{r['wcu']:g}", f"{r['rcu']:g}",
              r["hottest"], f"{r['hottest_units']:g} {r['hottest_kind']}",
              {OWN: "no"}.get(r["hottest_shared"], "yes" if r["hottest_shared"] == ALL_TEAMS
                              else r["hottest_shared"]),
              _calls(r["calls_per_s"]),
              f"{r['hottest_read']} ({r['hottest_read_rcu']:g} RCU)" if r["hottest_read_rcu"]
              else "-", _calls(r["calls_per_s_by_reads"]),
              f"{r['busiest_shared']} ({r['busiest_shared_wcu']:g} WCU)"
              if r["busiest_shared"] else "none",
              f"{r['dollars_per_million']:.2f}"] for r in table_rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    notes = [f"(prices: ${DOLLARS_PER_MILLION_WRU:g} per million write request units and "
             f"${DOLLARS_PER_MILLION_RRU:g} per million read request units, on demand; a "
             f"partition takes {PARTITION_WCU:,} WCU/s and {PARTITION_RCU:,} RCU/s; calls/s on "
             "it = that ÷ the hottest partition's units; steady state: every counter exists; "
             "a pair's $ is per million pairs)"]
    shared = sorted({s for r in table_rows for s in r["shared"]})
    notes.append(("partitions every team's calls write: " + ", ".join(shared)) if shared
                 else "no partition is written by every team's calls")
    for r in table_rows:
        if r["call"].startswith(("reserve+settle", "spend/track")) and r["shared_reads"]:
            hot = max((p for p in r["partitions"] if p["shared"] == ALL_TEAMS),
                      key=lambda p: p["rcu"])
            notes.append(f"{r['call']} ({r['members']} members) reads partitions every team's "
                         f"calls read: {', '.join(r['shared_reads'])} ({hot['rcu']:g} RCU on "
                         f"{hot['where']}:{hot['partition']}: "
                         f"{PARTITION_RCU / hot['rcu']:,.0f} calls/s for all teams together)")
    for r in rows:
        if r["kind"] in ("first", "retry"):
            notes.append(f"{'first call' if r['kind'] == 'first' else 'retry'}: {r['call']} "
                         f"({r['members']} members): {r['wcu']:g} WCU ({r['refused_wcu']:g} "
                         f"of them refused writes), {r['rcu']:g} RCU, hottest {r['hottest']} "
                         f"{r['hottest_units']:g} {r['hottest_kind']}, "
                         f"${r['dollars_per_million']:.2f} per million")
        elif r["kind"] == "consumer":
            notes.append(f"{r['call']} ({r['members']} members): off the call path, one place "
                         f"per team per batch of the stream (≤ 1,000 records or 10 s) however "
                         f"many calls it holds; its shard {r['hottest']} ({r['hottest_shared']}) "
                         f"takes {r['calls_per_s']:,.0f} places/s")
    for r in _of(rows, PAIR):
        rate, where, units = team_rate(r, "wcu")
        read_rate, read_where, read_units_ = team_rate(r, "rcu")
        notes.append(f"one team's exact reserve/settle rate ({r['members']} members): "
                     f"{rate:,.0f} pairs/s at {TEAM_SHARE:.0%} of {PARTITION_WCU:,} WCU/s on "
                     f"{where} ({units:g} WCU per pair); by reads {read_rate:,.0f} pairs/s at "
                     f"{TEAM_SHARE:.0%} of {PARTITION_RCU:,} RCU/s on {read_where} "
                     f"({read_units_:g} RCU per pair)")
    checks = targets(rows)
    return "\n".join([line(header), "-+-".join("-" * w for w in widths),
                      *(line(cells) for cells in lines), *notes, "targets:",
                      *(f"  {t.line()}" for t in checks)])


def as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(json.dumps(rows, default=lambda v: float(v) if isinstance(v, Decimal)
                                 else str(v)))
