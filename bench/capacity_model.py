"""What one call costs as DynamoDB bills it, and where it lands: the capacity model.

moto does not bill, so the price comes from the requests the layer sends (botocore's hooks on
the layer's own client) and the item images around each write, read with a client of the
bench's own (not counted), priced with template.yaml's index definitions:
- a write costs the larger of the item's old and new image, rounded up to 1 KB, twice inside a
  transaction (a ConditionCheck too); a refused write is billed all the same;
- each GSI that holds the item in its old or new image costs one more write of the projected
  size (rounded up to 1 KB), two when the index key changed; none when neither its key nor a
  projected attribute changed;
- a read costs the items read in 4 KB units (half for an eventually consistent one); a Query
  counts the items it returns, so a filtered Query is priced low (what it passed over is not
  seen here).
Every unit is booked on (table or index, partition key value). A partition takes 1,000 WCU/s
and 3,000 RCU/s, so the hottest partition of a call says how many such calls one partition
sustains; a partition written by the same call for two different teams is one that every
team's calls write.
"""

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PARTITION_WCU = 1000
PARTITION_RCU = 3000
# On-demand request units, us-east-1, per million (the November 2024 prices).
DOLLARS_PER_MILLION_WRU = 0.625
DOLLARS_PER_MILLION_RRU = 0.125
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

    def write(self, where: str, partition: str, units: float) -> None:
        self.wcu[(where, partition)] += units

    def read(self, where: str, partition: str, units: float) -> None:
        self.rcu[(where, partition)] += units

    @property
    def total_wcu(self) -> float:
        return sum(self.wcu.values())

    @property
    def total_rcu(self) -> float:
        return sum(self.rcu.values())

    def hottest(self) -> tuple[tuple[str, str], float, str]:
        """The partition that takes the largest share of its capacity, its units, the kind."""
        shares = [(k, v, "WCU", v / PARTITION_WCU) for k, v in self.wcu.items()] + [
            (k, v, "RCU", v / PARTITION_RCU) for k, v in self.rcu.items()]
        if not shares:
            return (("-", "-"), 0.0, "-")
        where, units, kind, _ = max(shares, key=lambda s: s[3])
        return where, units, kind


def _key_of(operation: dict[str, Any]) -> dict[str, Any]:
    item = operation.get("Item")
    return {"PK": item["PK"], "SK": item["SK"]} if item else operation["Key"]


class CapacityRecorder:
    """Prices every call of the layer's client while `recording` (see the module docstring)."""

    def __init__(self, raw_client: Any, index_list: list[Index]):
        self.raw = raw_client  # the bench's own client: its reads are not billed to the call
        self.indexes = index_list
        self.recording = False
        self.bill = Bill()
        self._pending: list[tuple[str, dict[str, Any], dict[str, Any] | None, bool]] = []

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._before,
                        unique_id="capacity-before")
        events.register("after-call.dynamodb.*", self._after, unique_id="capacity-after")
        events.register("after-call-error.dynamodb.*", self._after_error,
                        unique_id="capacity-after-error")

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
        if self.recording:
            self._price(model.name, self._params, parsed)

    def _after_error(self, model: Any, **_kwargs: Any) -> None:
        if self.recording:  # refused or cancelled: billed, nothing changed
            self._price(model.name, self._params, None)

    def _price(self, name: str, params: dict[str, Any], parsed: dict[str, Any] | None) -> None:
        for kind, operation, old, transactional in self._pending:
            key = _key_of(operation)
            new = self._image(operation["TableName"], key)
            size = max(item_size(old), item_size(new), item_size(operation.get("Item")))
            units = write_units(size) * (2 if transactional else 1)
            self.bill.write(TABLE, key["PK"]["S"], units)
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
            self.bill.read(TABLE, params["Key"]["PK"]["S"],
                           read_units(item_size(parsed.get("Item")),
                                      bool(params.get("ConsistentRead"))))
        elif name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                found = {(i["PK"]["S"], i["SK"]["S"]): i
                         for i in parsed.get("Responses", {}).get(table, [])}
                for key in request["Keys"]:
                    item = found.get((key["PK"]["S"], key["SK"]["S"]))
                    self.bill.read(TABLE, key["PK"]["S"], read_units(
                        item_size(item), bool(request.get("ConsistentRead"))))
        elif name == "Query":
            where = params.get("IndexName") or TABLE
            partition = params["ExpressionAttributeValues"][":pk"]["S"]
            size = sum(item_size(i) for i in parsed.get("Items", []))
            self.bill.read(where, partition,
                           read_units(size, bool(params.get("ConsistentRead"))))


def dollars_per_million(bill: Bill) -> float:
    return bill.total_wcu * DOLLARS_PER_MILLION_WRU + bill.total_rcu * DOLLARS_PER_MILLION_RRU


def row(label: str, bill: Bill, other_team: Bill) -> dict[str, Any]:
    """One line of the table: the call's totals, its hottest partition, and the busiest of the
    partitions the same call writes for another team too (shared by every team's calls)."""
    (where, partition), units, kind = bill.hottest()
    shared = {k: v for k, v in bill.wcu.items() if k in other_team.wcu}
    busiest = max(shared.items(), key=lambda e: e[1]) if shared else None
    limit = PARTITION_WCU if kind == "WCU" else PARTITION_RCU
    return {"call": label, "wcu": bill.total_wcu, "rcu": bill.total_rcu,
            "hottest": f"{where}:{partition[:28]}", "hottest_units": units, "kind": kind,
            "hottest_shared": (where, partition) in shared,
            "calls_per_s": (limit / units) if units else math.inf,
            "shared": sorted(f"{w}:{p}" for w, p in shared),
            "busiest_shared": f"{busiest[0][0]}:{busiest[0][1][:28]}" if busiest else None,
            "busiest_shared_wcu": busiest[1] if busiest else 0.0,
            "all_teams_calls_per_s": PARTITION_WCU / busiest[1] if busiest else math.inf,
            "dollars_per_million": dollars_per_million(bill)}


def report(rows: list[dict[str, Any]]) -> str:
    header = ("call", "WCU", "RCU", "hottest partition", "its units", "every team's?",
              "calls/s on it", "busiest partition every team writes", "calls/s, all teams",
              "$ per million")
    lines = [[r["call"], f"{r['wcu']:g}", f"{r['rcu']:g}", r["hottest"],
              f"{r['hottest_units']:g} {r['kind']}", "yes" if r["hottest_shared"] else "no",
              f"{r['calls_per_s']:,.0f}",
              f"{r['busiest_shared']} ({r['busiest_shared_wcu']:g} WCU)"
              if r["busiest_shared"] else "none",
              f"{r['all_teams_calls_per_s']:,.0f}" if r["busiest_shared"] else "-",
              f"{r['dollars_per_million']:.2f}"] for r in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))

    shared = {s for r in rows for s in r["shared"]}
    note = ("partitions every team's calls write: " + ", ".join(sorted(shared))) if shared \
        else "no partition is written by every team's calls"
    return "\n".join([line(header), "-+-".join("-" * w for w in widths),
                      *(line(cells) for cells in lines), note,
                      f"(prices: ${DOLLARS_PER_MILLION_WRU}/M write and "
                      f"${DOLLARS_PER_MILLION_RRU}/M read request units, on demand; a partition "
                      f"takes {PARTITION_WCU:,} WCU/s and {PARTITION_RCU:,} RCU/s)"])


def as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(json.dumps(rows, default=lambda v: float(v) if isinstance(v, Decimal)
                                 else str(v)))
