"""AuditStore: AuditLog items, written inside the transaction of the change they describe,
read newest first by a key (never a scan), and the publisher's markers of what reached the
audit carrier.

Reads: `object_id` its own partition (a consistent Query: a change shows as soon as its
request returned), else `team_id` GSI11, else `changed_by` GSI9, else `table_name` GSI10, else
GSI8 (every record). All sort keys are the record's `<updated_at>#<id>`, so `start`/`end` are a
key range on each of them; the filters the chosen key does not cover are a FilterExpression,
which a page applies to at most FILTERED_READS Queries of CHUNK records (then it ends early,
with a cursor where the reading stopped), so a page costs O(page) whatever the filters match.
"""

from dataclasses import dataclass

from teamledger import cursors, sizes
from teamledger.errors import BadRequest
from teamledger.store import keys, table
from teamledger.store.marshal import Item
from teamledger.store.table import Transaction

CHUNK = 100  # records a filtered Query evaluates per request
FILTERED_READS = 10  # Queries a filtered page makes at most (1,000 records evaluated)
NOT_A_CURSOR = "cursor is not a next_cursor of this query"


@dataclass(frozen=True)
class AuditQuery:
    """Which records: every field is an equality filter; `start`/`end` are ISO-8601 UTC
    timestamps, both included."""

    object_id: str | None = None
    team_id: str | None = None
    table_name: str | None = None
    action: str | None = None
    changed_by: str | None = None
    start: str | None = None
    end: str | None = None
    limit: int = 50

    @property
    def keyed_by(self) -> str | None:
        """The filter whose key the query reads (None: object_id's partition, or every
        record's)."""
        if self.object_id is not None:
            return None
        return next((f for f in ("team_id", "changed_by", "table_name")
                     if getattr(self, f) is not None), None)

    @property
    def index(self) -> str | None:
        if self.object_id is not None:
            return None
        return keys.AUDIT_INDEXES[self.keyed_by]

    @property
    def partition(self) -> str:
        if self.object_id is not None:
            return keys.audit_partition(self.object_id)
        if self.team_id is not None:
            return keys.audit_team_partition(self.team_id)
        if self.changed_by is not None:
            return keys.audit_changer_partition(self.changed_by)
        if self.table_name is not None:
            return keys.audit_table_partition(self.table_name)
        return keys.AUDIT_LOG

    def key_range(self) -> tuple[str, str] | None:
        """Sort keys from `start` to `end`, both included ('~' sorts after every id)."""
        if self.start is None and self.end is None:
            return None
        return self.start or "0", f"{self.end}#~" if self.end else "~"

    def rest(self) -> table.Filter | None:
        """The filters the partition does not already apply."""
        wanted = {"table_name": self.table_name, "action": self.action,
                  "changed_by": self.changed_by}
        wanted = {k: v for k, v in wanted.items() if v is not None and k != self.keyed_by}
        if not wanted:
            return None
        return table.Filter(" AND ".join(f"#{k} = :{k}" for k in wanted),
                            {f"#{k}": k for k in wanted}, {f":{k}": v for k, v in wanted.items()})

    def start_key(self, cursor: str) -> Item:
        values = cursors.decode(cursor)
        if not (values and len(values) == 4 and values[0] == 1
                and values[1] == (self.index or "object")
                and all(isinstance(v, str) and 0 < len(v.encode()) <= 1024 for v in values[2:])
                and values[2].startswith(keys.audit_partition(""))):
            raise BadRequest(NOT_A_CURSOR)
        _, _, pk, sk = values
        bounds = self.key_range()
        if bounds and not bounds[0] <= sk <= bounds[1]:
            # Another time range's position: DynamoDB refuses a start key outside the key
            # condition ("outside query boundaries"), so it is this query's 400, not a 500.
            raise BadRequest(NOT_A_CURSOR)
        key: Item = keys.key(pk, sk)
        if self.index is None:
            if pk != self.partition:
                raise BadRequest(NOT_A_CURSOR)
            return key
        return key | {f"{self.index}PK": self.partition, f"{self.index}SK": sk}

    def cursor_after(self, item: Item) -> str:
        return cursors.encode([1, self.index or "object", item["PK"], item["SK"]])


class AuditStore:
    def record(self, tx: Transaction, log: Item, team_id: str | None = None) -> None:
        """Put one AuditLog (its fields, plus `ttl`) in the change's own transaction; with
        `team_id`, in that team's timeline (GSI11) too."""
        key = keys.audit(log["object_id"], log["updated_at"], log["id"])
        tx.put(key | keys.audit_index(log.get("changed_by"), log["table_name"], key["SK"],
                                      team_id) | {"entity": "audit"} | log)

    def has_team_records(self, team_id: str) -> bool:
        """Whether any record is in the team's timeline (a deleted team's history)."""
        items, _ = table.Query(keys.audit_team_partition(team_id),
                               index=keys.AUDIT_INDEXES["team_id"]).page(1)
        return bool(items)

    def page(self, query: AuditQuery, cursor: str | None) -> tuple[list[Item], str | None]:
        """Up to `query.limit` records newest first, and the cursor of the next page."""
        start_key = query.start_key(cursor) if cursor else None
        reader = table.Query(query.partition, index=query.index, consistent=query.index is None,
                             forward=False, where=query.rest(), sk_between=query.key_range())
        found: list[Item] = []
        reads = 0
        while len(found) <= query.limit:
            if reader.where is not None and reads == FILTERED_READS:
                break  # a page ends early rather than read on: it goes on from start_key
            wanted = query.limit + 1 - len(found)
            items, start_key = reader.page(wanted if reader.where is None else max(CHUNK, wanted),
                                           start_key)
            reads += 1
            found += items
            if not start_key:
                break
        page = found[:query.limit]
        page = page[:sizes.fitting([sizes.answer_size(i) for i in page])]  # bounded answers
        if len(found) > len(page):
            next_cursor: str | None = query.cursor_after(page[-1])
        else:  # every record read is on the page: more only where the reading stopped
            next_cursor = query.cursor_after(start_key) if start_key else None
        return [keys.without_keys(i) for i in page], next_cursor

    def published(self, audit_ids: set[str]) -> set[str]:
        """Which of these records the publisher has put on the stream already."""
        if not audit_ids:
            return set()
        markers = table.batch_get([keys.audit_published(i) for i in audit_ids])
        return {marker["id"] for marker in markers}

    def mark_published(self, audit_id: str, expires: int) -> bool:
        return table.put_new(keys.audit_published(audit_id) | {
            "entity": "audit_published", "id": audit_id, "ttl": expires})
