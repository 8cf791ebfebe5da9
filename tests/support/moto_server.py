"""The local DynamoDB: a moto server on loopback, made fit for our transactions and our tables.

moto 5.2's TransactWriteItems snapshots the whole table for its rollback, once per item of the
transaction, so a 100-item transaction on a 10,000-item table deep-copies a million items; and
its threaded server lets one request change a table while another's snapshot iterates it
("dictionary changed size during iteration"). Here a transaction backs up only the items it
names (and the length of the table's stream), moto's own whole-table snapshot becomes a no-op,
and every table operation holds one lock, which also gives each request the isolation of
DynamoDB. What moto decides (conditions, cancellation reasons) is unchanged.

moto's Query sorts every item of the table and walks from the first to the ExclusiveStartKey,
so one page costs O(n log n) in the table's size: seconds at 100,000 items. Here a query's
partition (of the base table or of an index) is kept sorted in moto's own order until the next
write to its table (the first query after one sorts again: an index, once for all its
partitions), the ExclusiveStartKey and the start of the sort-key range are found by bisection,
and moto's query gets only the items its page can reach: the page costs O(page + log n), and
what moto answers (items, order, Count, ScannedCount, LastEvaluatedKey, projections, filters)
is unchanged. Queries this does not cover (multi-attribute keys, QueryFilter, odd types) go to
moto's query as they are. Item reads are answered with json.dumps instead of moto's generic
serializer (same document, ~10 ms less per item).

With a journal (`make dev`'s DATA_DIR, tests/support/devdata.py) the server is built around
moto's WSGI app with the journal in front: its writes are replayed into the app first, then
every write the app answers is journaled before its answer goes out.
"""

import copy
import json
import threading
import weakref
from functools import wraps
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.responses import DynamoResult
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from tests.support.devdata import Journal

_LOCK = threading.RLock()
_SERIALISED = ("put_item", "update_item", "delete_item", "get_item", "query", "scan",
               "create_table", "delete_table")


class _TablesNotCopied:
    """Stands in for the `copy` module during a transaction: tables are backed up item by item
    instead; everything else (moto copies an item's old image for the stream) is copied."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _item_key(table: Table, operation: dict) -> tuple[DynamoType, DynamoType | None]:
    attributes = operation.get("Item") or operation["Key"]
    range_attr = table.range_key_attr
    return (DynamoType(attributes[table.hash_key_attr]),
            DynamoType(attributes[range_attr]) if range_attr else None)


def _backup(backend, transact_items: list[dict]) -> tuple[list, dict]:
    items, streams = [], {}
    for entry in transact_items:
        operation = next(iter(entry.values()))
        table = backend.tables.get(operation.get("TableName"))
        if table is None:
            continue
        try:
            hash_key, range_key = _item_key(table, operation)
        except (KeyError, TypeError):
            continue  # moto rejects the request itself; nothing of it is applied
        items.append((table, hash_key, range_key,
                      copy.deepcopy(table.get_item(hash_key, range_key))))
        if table.stream_shard is not None:
            streams.setdefault(id(table), (table, len(table.stream_shard.items)))
    return items, streams


def _restore(items: list, streams: dict) -> None:
    for table, hash_key, range_key, original in reversed(items):
        partition = table.items if range_key is None else table.items[hash_key]
        slot = hash_key if range_key is None else range_key
        if original is None:
            partition.pop(slot, None)
        else:
            partition[slot] = original
    for table, length in streams.values():
        del table.stream_shard.items[length:]
    for table in {id(table): table for table, *_ in items}.values():
        _written(table)


def _transact_with_item_backups(method):
    @wraps(method)
    def transact(backend, transact_items, *args, **kwargs):
        with _LOCK:
            items, streams = _backup(backend, transact_items)
            models.copy = _TablesNotCopied
            try:
                return method(backend, transact_items, *args, **kwargs)
            except Exception:
                _restore(items, streams)
                raise
            finally:
                models.copy = copy

    return transact


def _serialised(method):
    @wraps(method)
    def locked(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return locked


# Query ---------------------------------------------------------------------------------------
# Every write to a table bumps its generation; _Orders of an older one are dropped, not patched.

_GENERATIONS: "weakref.WeakKeyDictionary[Table, int]" = weakref.WeakKeyDictionary()
_ORDERS: "weakref.WeakKeyDictionary[Table, _Orders]" = weakref.WeakKeyDictionary()
_SCALARS = {"S", "N", "B"}
_ITEM_SIZE_CAP = 405_000  # moto refuses a bigger item (LimitedSizeDict): Item.size() <= this
# The items a key condition on the sort key matches are one run of the sort order (begins_with
# too: the strings with a prefix sort together). What precedes the run in query order is at or
# below its lower bound (forward) or at or above its upper bound (backward) without matching.
# Per comparison: the indexes of those bounds among the condition's values, None for no bound.
_BOUNDS = {"=": (0, 0), "BEGINS_WITH": (0, 0), "BETWEEN": (0, 1),
           "<": (None, 0), "<=": (None, 0), ">": (0, None), ">=": (0, None)}


class _Orders:
    """A table's items in moto's query order, as of one generation: per base-table partition
    (by range key) and per index partition (by index range key, then the table's key)."""

    def __init__(self, generation: int):
        self.generation = generation
        self.partitions: dict[DynamoType, list[Item]] = {}
        # (index name, hash attribute, range attribute) -> _index_groups
        self.indexes: dict[tuple[str, str, str], dict[tuple[str, Any], list[Item] | None]] = {}


def _written(table: Table) -> None:
    with _LOCK:
        _GENERATIONS[table] = _GENERATIONS.get(table, 0) + 1


def _table_write(method):
    """A write method of Table (put_item, delete_item)."""

    @wraps(method)
    def write(table, *args, **kwargs):
        try:
            return method(table, *args, **kwargs)
        finally:
            _written(table)

    return write


def _backend_update(method):
    """DynamoDBBackend.update_item, which changes its item in place (even when it then fails)."""

    @wraps(method)
    def update(backend, *args, **kwargs):
        try:
            return method(backend, *args, **kwargs)
        finally:
            table = backend.tables.get(kwargs.get("table_name", args[0] if args else None))
            if table is not None:
                _written(table)

    return update


def _orders(table: Table) -> _Orders:
    generation = _GENERATIONS.get(table, 0)
    orders = _ORDERS.get(table)
    if orders is None or orders.generation != generation:
        orders = _ORDERS[table] = _Orders(generation)
    return orders


def _sortable(value: DynamoType) -> Any:
    # DynamoType orders by cast_value; comparing those directly is the same order, many times
    # faster (a key attribute has one type: the table's by moto's check, an index's by ours).
    return value.value if value.type == "S" else value.cast_value


def _partition(table: Table, hash_key: DynamoType) -> list[Item]:
    """One base-table partition sorted as moto's query sorts it: by range key."""
    orders = _orders(table)
    items = orders.partitions.get(hash_key)
    if items is None:
        partition = table.items.get(hash_key)  # .get: table.items is a defaultdict
        if partition is None:
            items = []
        elif table.range_key_attr is None:
            items = [partition]
        else:
            items = sorted(partition.values(), key=lambda item: _sortable(item.range_key))
        orders.partitions[hash_key] = items
    return items


def _scalar_key(value: DynamoType) -> tuple[str, Any] | None:
    """A dict key equal for exactly the values DynamoType calls equal (same type, same cast
    value), much cheaper to hash; None for a value that is not a string, number or binary."""
    return (value.type, _sortable(value)) if value.type in _SCALARS else None


def _index_groups(table: Table, hash_attr: str, range_attr: str
                  ) -> dict[tuple[str, Any], list[Item] | None]:
    """Every item with both index key attributes, grouped by the _scalar_key of its index hash
    value, each group sorted as moto's sorted_items sorts a query's items; None for a group
    whose index range values are not all of one scalar type (moto's order of those is its own
    business). An item whose index hash value is not a scalar is left out: it equals no
    query's scalar value, and a query for another type goes to moto."""
    groups: dict[tuple[str, Any], list[Item] | None] = {}
    for partition in table.items.values():
        for item in (partition.values() if table.range_key_attr else (partition,)):
            hash_value, range_value = item.attrs.get(hash_attr), item.attrs.get(range_attr)
            if hash_value is not None and range_value is not None:
                key = _scalar_key(hash_value)
                if key is not None:
                    groups.setdefault(key, []).append(item)
    sort_attrs = [range_attr, table.hash_key_attr] + (
        [table.range_key_attr] if table.range_key_attr else [])
    for key, items in groups.items():
        types = {item.attrs[range_attr].type for item in items}
        if len(types) > 1 or not types <= _SCALARS:
            groups[key] = None
        else:
            items.sort(key=lambda item: tuple(_sortable(item.attrs[a]) for a in sort_attrs))
    return groups


def _index_partition(table: Table, hash_attr: str, range_attr: str, index_name: str,
                     hash_value: DynamoType) -> list[Item] | None:
    key = _scalar_key(hash_value)
    if key is None:
        return None
    orders = _orders(table)
    index = (index_name, hash_attr, range_attr)
    if index not in orders.indexes:
        orders.indexes[index] = _index_groups(table, hash_attr, range_attr)
    return orders.indexes[index].get(key, [])


def _typed(value: Any, type_: str) -> bool:
    """Whether value is an attribute value (as a key of a request holds it) of type type_."""
    return isinstance(value, dict) and len(value) == 1 and type_ in value


def _first(holds, low: int, high: int) -> int:
    """The first i in [low, high) where holds(i), for holds false up to some i and true after."""
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low


class _Reading:
    """One page's read of a partition (sorted in moto's order), in query order, as moto's
    query walks it: the same comparisons, on the items its walk can reach."""

    def __init__(self, table: Table, items: list[Item], sort_attrs: tuple[list, list],
                 range_attr: str | None, range_comparison: str | None,
                 range_objs: list[DynamoType], forward: bool):
        self.table, self.items, self.count = table, items, len(items)
        self.hash_attrs, self.range_attrs = sort_attrs  # as moto passes them on
        self.range_attr, self.comparison, self.objs = range_attr, range_comparison, range_objs
        self.forward = forward

    def at(self, i: int) -> Item:
        return self.items[i] if self.forward else self.items[self.count - 1 - i]

    def matches(self, item: Item) -> bool:
        return item.attrs[self.range_attr].compare(self.comparison, self.objs)

    def comparable(self, exclusive_start_key: dict | None) -> bool:
        """Whether the condition's values and the start key have the items' types: moto's
        comparisons of others raise or match nothing, and its query says which."""
        sample = self.items[0]
        if self.comparison:
            sort_type = sample.attrs[self.range_attr].type
            if (any(obj.type != sort_type for obj in self.objs)
                    or (self.comparison == "BEGINS_WITH" and sort_type not in ("S", "B"))):
                return False
        return exclusive_start_key is None or (isinstance(exclusive_start_key, dict) and all(
            _typed(exclusive_start_key.get(attr), sample.attrs[attr].type)
            for attr in self.table._generate_attr_to_sort_by(self.hash_attrs, self.range_attrs)))

    def start(self, exclusive_start_key: dict | None) -> int:
        """Where moto's walk finds its first result, or the end of its page."""
        start = 0
        if exclusive_start_key is not None:
            # moto skips the items that come before (or are) the key: a prefix in query order
            start = _first(lambda i: not self.table._item_comes_before_dct(
                self.at(i), exclusive_start_key, self.hash_attrs, self.range_attrs,
                self.forward), 0, self.count)
        bound = _BOUNDS[self.comparison][0 if self.forward else 1] if self.comparison else None
        if bound is None:
            return start
        # ... and then, matching none of them, the items before the range in query order
        edge = self.objs[bound]

        def before_range(i: int) -> bool:
            item = self.at(i)
            value = item.attrs[self.range_attr]
            return not self.matches(item) and (value <= edge if self.forward else value >= edge)

        return _first(lambda i: not before_range(i), start, self.count)

    def page(self, start: int, limit: int | None) -> list[Item]:
        """The items from start that moto's walk looks at: it stops at the item past Limit or
        past the 1 MB, or where the range ends if no later item could still reach the 1 MB."""
        page, results, result_size = [], 0, 0
        for i in range(start, self.count):
            item = self.at(i)
            page.append(item)
            size = item.size()
            if results == limit or result_size + size > RESULT_SIZE_LIMIT:
                break  # moto ends the page here, with a LastEvaluatedKey
            if self.comparison and not self.matches(item):
                # Past the range. moto walks on, and stops (with a LastEvaluatedKey) only at
                # an item that would take the page past the 1 MB; only a page this full can.
                if result_size + _ITEM_SIZE_CAP <= RESULT_SIZE_LIMIT:
                    break
                continue
            results += 1
            result_size += size
        return page


def _partition_read(table: Table, hash_key: DynamoType | None, index_name: str | None,
                    consistent_read: bool, hash_key_conditions: list
                    ) -> tuple[list[Item], tuple[list, list], str | None] | None:
    """The query's partition in moto's order, the key attributes moto's query sorts and
    compares start keys by, and the sort key attribute; None to leave the query to moto."""
    if not index_name:
        if hash_key is None or hash_key.type not in _SCALARS:
            return None
        return (_partition(table, hash_key), ([table.hash_key_attr], [table.range_key_attr]),
                table.range_key_attr)
    index = {i.name: i for i in table.all_indexes()}.get(index_name)
    if index is None or (consistent_read and index in table.global_indexes):
        return None  # moto's query raises the ValidationException
    hash_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    range_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if (len(hash_attrs) != 1 or len(range_attrs) != 1
            or [name for name, _ in hash_key_conditions] != hash_attrs):
        return None
    items = _index_partition(table, hash_attrs[0], range_attrs[0], index_name,
                             hash_key_conditions[0][1])
    if items is None:
        return None
    return (items, (hash_attrs + [table.hash_key_attr], range_attrs + [table.range_key_attr]),
            range_attrs[0])


def _page(table: Table, hash_key: DynamoType | None, range_comparison: str | None,
          range_objs: list[DynamoType], limit: int | None, exclusive_start_key: dict | None,
          scan_index_forward: bool, index_name: str | None, consistent_read: bool,
          hash_key_conditions: list, range_key_conditions: list) -> list[Item] | None:
    """The items moto's query looks at for this page, in query order, or None to leave the
    query to moto: from after the ExclusiveStartKey and before the sort-key range (which
    moto would skip) to where moto's walk ends."""
    if ((limit is not None and not (isinstance(limit, int) and limit >= 1))
            or not isinstance(scan_index_forward, bool) or len(range_key_conditions) > 1
            or bool(range_comparison) != bool(range_key_conditions)
            or (range_comparison and range_comparison not in _BOUNDS)):
        return None
    found = _partition_read(table, hash_key, index_name, consistent_read, hash_key_conditions)
    if found is None:
        return None
    items, sort_attrs, range_attr = found
    if range_key_conditions and range_key_conditions[0][0] != range_attr:
        return None
    if not items:
        return []
    reading = _Reading(table, items, sort_attrs, range_attr, range_comparison, range_objs,
                       scan_index_forward)
    if not reading.comparable(exclusive_start_key):
        return None
    return reading.page(reading.start(exclusive_start_key), limit)


def _query_in_pages(query):
    """Table.query on the page alone: moto's query gets the page's items as the table's
    items (an instance attribute shadowing all_items) and no ExclusiveStartKey."""

    @wraps(query)
    def paged(table, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
              scan_index_forward, projection_expressions, index_name=None,
              consistent_read=False, filter_expression=None, hash_key_conditions=None,
              range_key_conditions=None, **filter_kwargs):
        with _LOCK:
            page = None if filter_kwargs else _page(
                table, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                scan_index_forward, index_name, consistent_read, hash_key_conditions or [],
                range_key_conditions or [])
            if page is not None:
                table.all_items = lambda: page
                exclusive_start_key = None
            try:
                return query(table, hash_key, range_comparison, range_objs, limit,
                             exclusive_start_key, scan_index_forward, projection_expressions,
                             index_name, consistent_read, filter_expression,
                             hash_key_conditions=hash_key_conditions,
                             range_key_conditions=range_key_conditions, **filter_kwargs)
            finally:
                table.__dict__.pop("all_items", None)

    return paged


# Reads answer with items, which are DynamoDB JSON already: moto's generic, model-driven
# serializer spends ~10 ms per item re-walking them (seconds for a 1 MB page); json.dumps
# writes the same document. Anything that is not plain JSON goes the generic way.
_ITEM_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})


def _items_as_json(execute_result):
    @wraps(execute_result)
    def execute(result, context):
        if context.operation_model.name in _ITEM_READS and isinstance(result.result, dict):
            try:
                body = json.dumps({k: v for k, v in result.result.items() if v is not None})
            except (TypeError, ValueError):
                return execute_result(result, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return execute_result(result, context)

    return execute


def install() -> None:
    backend = models.DynamoDBBackend
    if getattr(backend, "_teamledger_patched", False):
        return
    backend.transact_write_items = _transact_with_item_backups(backend.transact_write_items)
    # Every write to an item goes through one of these, or _restore.
    backend.update_item = _backend_update(backend.update_item)
    Table.put_item = _table_write(Table.put_item)
    Table.delete_item = _table_write(Table.delete_item)
    Table.query = _query_in_pages(Table.query)
    DynamoResult.execute_result = _items_as_json(DynamoResult.execute_result)
    for name in _SERIALISED:
        setattr(backend, name, _serialised(getattr(backend, name)))
    backend._teamledger_patched = True


class JournaledMotoServer:
    """ThreadedMotoServer's server around moto's app with a journal (tests/support/devdata.py):
    the journal is replayed into the app before the server takes its first request."""

    def __init__(self, journal: Journal):
        app = DomainDispatcherApplication(create_backend_app)
        journal.replay(app)
        self._server = make_server("127.0.0.1", 0, journal.recording(app), threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start(journal: Journal | None = None) -> tuple[ThreadedMotoServer | JournaledMotoServer, str]:
    """A moto server on a free loopback port; returns it and its endpoint URL. With a journal,
    it starts with the journal's writes and journals every new one."""
    install()
    if journal is None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    else:
        server = JournaledMotoServer(journal)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
