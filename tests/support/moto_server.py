"""The local DynamoDB: a moto server on loopback, made fit for our transactions.

moto 5.2's TransactWriteItems snapshots the whole table for its rollback, once per item of the
transaction, so a 100-item transaction on a 10,000-item table deep-copies a million items; and
its threaded server lets one request change a table while another's snapshot iterates it
("dictionary changed size during iteration"). Here a transaction backs up only the items it
names (and the length of the table's stream), moto's own whole-table snapshot becomes a no-op,
and every table operation holds one lock, which also gives each request the isolation of
DynamoDB. What moto decides (conditions, cancellation reasons) is unchanged.
"""

import copy
import threading
from functools import wraps

from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import ThreadedMotoServer

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


def install() -> None:
    backend = models.DynamoDBBackend
    if getattr(backend, "_teamledger_patched", False):
        return
    backend.transact_write_items = _transact_with_item_backups(backend.transact_write_items)
    for name in _SERIALISED:
        setattr(backend, name, _serialised(getattr(backend, name)))
    backend._teamledger_patched = True


def start() -> tuple[ThreadedMotoServer, str]:
    """A moto server on a free loopback port; returns it and its endpoint URL."""
    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
