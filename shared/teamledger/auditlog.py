"""GET /audit: AuditLog records newest first, every query served by a key, never a scan.

The most selective filter picks where to read: `object_id` its own partition (a consistent
Query: a change shows as soon as its request returned), else `changed_by` GSI9, else
`table_name` GSI10, else GSI8 (every record). All sort keys are the record's
`<updated_at>#<id>`, so `start`/`end` are a key range on each of them; the filters the chosen
key does not cover are a FilterExpression.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from teamledger import cursors, db, itemkeys
from teamledger.auth import Actor
from teamledger.errors import BadRequest
from teamledger.models import AuditLog, AuditPage
from teamledger.policy import Action, authorize
from teamledger.timestamps import to_iso

CHUNK = 100  # records a filtered Query evaluates per request
FIELDS = tuple(AuditLog.model_fields)


@dataclass(frozen=True)
class AuditQuery:
    object_id: str | None = None
    table_name: str | None = None
    action: str | None = None
    changed_by: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 50

    @property
    def index(self) -> str | None:
        if self.object_id is not None:
            return None
        return itemkeys.AUDIT_INDEXES["changed_by" if self.changed_by is not None else
                                      "table_name" if self.table_name is not None else None]

    @property
    def partition(self) -> str:
        if self.object_id is not None:
            return itemkeys.audit_partition(self.object_id)
        if self.changed_by is not None:
            return itemkeys.audit_changer_partition(self.changed_by)
        if self.table_name is not None:
            return itemkeys.audit_table_partition(self.table_name)
        return itemkeys.AUDIT_LOG

    def key_range(self) -> tuple[str, str] | None:
        """Sort keys from `start` to `end`, both included ('~' sorts after every id)."""
        if self.start is None and self.end is None:
            return None
        low = to_iso(_utc(self.start)) if self.start else "0"  # before any timestamp
        high = f"{to_iso(_utc(self.end))}#~" if self.end else "~"
        return low, high

    def rest(self) -> db.Filter | None:
        """The filters the partition does not already apply."""
        wanted = {"table_name": self.table_name, "action": self.action,
                  "changed_by": self.changed_by}
        if self.object_id is None:
            covered = "changed_by" if self.changed_by is not None else "table_name"
            wanted.pop(covered)
        wanted = {k: v for k, v in wanted.items() if v is not None}
        if not wanted:
            return None
        return db.Filter(" AND ".join(f"#{k} = :{k}" for k in wanted),
                         {f"#{k}": k for k in wanted}, {f":{k}": v for k, v in wanted.items()})


def list_audit(actor: Actor, query: AuditQuery, cursor: str | None) -> AuditPage:
    authorize(actor.caller, Action.AUDIT_READ)
    if query.start and query.end and _utc(query.start) > _utc(query.end):
        raise BadRequest("start is after end")
    start_key = _start_key(query, cursor) if cursor else None
    found: list[dict] = []
    where = query.rest()
    while len(found) <= query.limit:
        wanted = query.limit + 1 - len(found)
        items, start_key = db.query(
            query.partition, index=query.index, consistent=query.index is None,
            forward=False, start_key=start_key, where=where, sk_between=query.key_range(),
            limit=wanted if where is None else max(CHUNK, wanted))
        found += items
        if not start_key:
            break
    page = found[:query.limit]
    next_cursor = None
    if len(found) > query.limit:
        last = page[-1]
        next_cursor = cursors.encode([1, query.index or "object", last["PK"], last["SK"]])
    return AuditPage(data=[AuditLog(**{k: item.get(k) for k in FIELDS}) for item in page],
                     next_cursor=next_cursor)


def _utc(moment: datetime) -> datetime:
    """A time without a zone is UTC, as every time of this API is."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _start_key(query: AuditQuery, cursor: str) -> dict:
    values = cursors.decode(cursor)
    if not (values and len(values) == 4 and values[0] == 1
            and values[1] == (query.index or "object")
            and all(isinstance(v, str) and 0 < len(v.encode()) <= 1024 for v in values[2:])
            and values[2].startswith(itemkeys.audit_partition(""))):
        raise BadRequest("cursor is not a next_cursor of this query")
    _, _, pk, sk = values
    key = itemkeys.key(pk, sk)
    if query.index is None:
        if pk != query.partition:
            raise BadRequest("cursor is not a next_cursor of this query")
        return key
    return key | {f"{query.index}PK": query.partition, f"{query.index}SK": sk}
