"""The single table, one request at a time: reads, queries, conditional writes and the
transaction that carries one request's changes. Only the stores in this package call it.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from teamledger import sizes
from teamledger.errors import BadRequest, Busy, ServiceError, TransactionCancelled
from teamledger.store.client import (
    TOO_LARGE,
    TOO_LARGE_TOGETHER,
    TOO_MANY_TOGETHER,
    call,
    error_code,
    table_name,
    too_large,
)
from teamledger.store.marshal import Item, from_item, item_size, to_item

Key = dict[str, str]
# What a failed condition means: an error to raise, or a function that makes it from the
# cancellation (and may read what the retry needs, as TeamStore's roster does).
Refusal = ServiceError | Callable[[TransactionCancelled], Exception]


# --- reads -------------------------------------------------------------------------------

def key_fits(key: Key) -> bool:
    """Whether DynamoDB can hold this key at all. One it cannot names no item: reads of it find
    nothing (DynamoDB would refuse the request itself, a 500)."""
    return (sizes.utf8_size(key["PK"]) <= sizes.PARTITION_KEY_BYTES
            and sizes.utf8_size(key["SK"]) <= sizes.SORT_KEY_BYTES)


def get(key: Key, *, consistent: bool = True, attributes: tuple[str, ...] = ()) -> Item | None:
    if not key_fits(key):
        return None
    request: dict[str, Any] = {"TableName": table_name(), "Key": to_item(key),
                               "ConsistentRead": consistent}
    if attributes:
        request["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        request["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
    item = call("get_item", request).get("Item")
    return from_item(item) if item else None


def batch_get(keys: list[Key], *, consistent: bool = True) -> list[Item]:
    """All items that exist among `keys` (any order); unprocessed keys are retried."""
    found: list[Item] = []
    unique = [k for k in {(k["PK"], k["SK"]): k for k in keys}.values() if key_fits(k)]
    for start in range(0, len(unique), 100):
        pending: dict[str, Any] = {table_name(): {
            "Keys": [to_item(k) for k in unique[start:start + 100]], "ConsistentRead": consistent}}
        for _ in range(8):
            response = call("batch_get_item", {"RequestItems": pending})
            found += [from_item(i) for i in response.get("Responses", {}).get(table_name(), [])]
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
        else:
            raise Busy("The table is busy; please retry")
    return found


@dataclass(frozen=True)
class Filter:
    """A FilterExpression with its names and (plain Python) values."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: Item = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """One Query of the base table (index None) or of a GSI, by partition key value."""

    partition: str
    index: str | None = None
    sk_prefix: str | None = None
    sk_between: tuple[str, str] | None = None
    sk_after: str | None = None  # after this sort key, in the query's direction
    consistent: bool = False
    forward: bool = True
    where: Filter | None = None

    def request(self, limit: int | None, start_key: Item | None) -> dict[str, Any]:
        pk_name, sk_name = (f"{self.index}PK", f"{self.index}SK") if self.index else ("PK", "SK")
        condition = "#pk = :pk"
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": {"S": self.partition}}
        if self.sk_prefix is not None:
            condition += " AND begins_with(#sk, :sk)"
            names["#sk"] = sk_name
            values[":sk"] = {"S": self.sk_prefix}
        if self.sk_between is not None:
            condition += " AND #sk BETWEEN :low AND :high"
            names["#sk"] = sk_name
            values |= {":low": {"S": self.sk_between[0]}, ":high": {"S": self.sk_between[1]}}
        if self.sk_after is not None:
            condition += f" AND #sk {'>' if self.forward else '<'} :after"
            names["#sk"] = sk_name
            values[":after"] = {"S": self.sk_after}
        request: dict[str, Any] = {"TableName": table_name(), "KeyConditionExpression": condition,
                                   "ScanIndexForward": self.forward}
        if self.where is not None:
            names |= self.where.names
            values |= to_item(self.where.values)
            request["FilterExpression"] = self.where.expression
        request |= {"ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
        if self.index:
            request["IndexName"] = self.index
        else:
            request["ConsistentRead"] = self.consistent
        if limit:
            request["Limit"] = limit
        if start_key:
            request["ExclusiveStartKey"] = to_item(start_key)
        return request

    def page(self, limit: int | None = None,
             start_key: Item | None = None) -> tuple[list[Item], Item | None]:
        """One page: (items, last_evaluated_key); keys are plain dicts of key attributes."""
        if not self.can_match():
            return [], None
        response = call("query", self.request(limit, start_key))
        last = response.get("LastEvaluatedKey")
        return [from_item(i) for i in response.get("Items", [])], from_item(last) if last else None

    def can_match(self) -> bool:
        """False for a partition, or a sort key prefix, longer than a key can be: no item has
        it, and DynamoDB would refuse the Query itself."""
        return (sizes.utf8_size(self.partition) <= sizes.PARTITION_KEY_BYTES
                and (self.sk_prefix is None
                     or sizes.utf8_size(self.sk_prefix) <= sizes.SORT_KEY_BYTES))

    def all(self) -> Iterator[Item]:
        start_key = None
        while True:
            items, start_key = self.page(start_key=start_key)
            yield from items
            if not start_key:
                return

    def count(self) -> int:
        """How many items match (Select=COUNT, every page)."""
        if not self.can_match():
            return 0
        total, start_key = 0, None
        while True:
            response = call("query", self.request(None, start_key) | {"Select": "COUNT"})
            counted: int = response.get("Count", 0)
            total += counted
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return total
            start_key = from_item(start_key)


# --- writes ------------------------------------------------------------------------------

def put_new(item: Item) -> bool:
    """Put `item` unless an item with its key exists; returns whether it was written."""
    wire = to_item(item)
    if item_size(wire) > sizes.ITEM_BYTES:
        raise BadRequest(TOO_LARGE)
    return _conditional("put_item", {"TableName": table_name(), "Item": wire,
                                     "ConditionExpression": "attribute_not_exists(PK)"})


def update_if(key: Key, changes: Item, condition: str, values: Item | None = None,
              names: dict[str, str] | None = None) -> bool:
    """One conditional UpdateItem (SET/REMOVE `changes`) outside any transaction; returns
    whether it was written."""
    expression, change_names, change_values = update_expression(changes)
    request: dict[str, Any] = {
        "TableName": table_name(), "Key": to_item(key), "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": change_names | (names or {})}
    if change_values or values:
        request["ExpressionAttributeValues"] = to_item(change_values | (values or {}))
    return _conditional("update_item", request)


def update_raw_if(key: Key, expression: str, condition: str, *,
                  names: dict[str, str] | None = None, values: Item | None = None) -> bool:
    """One conditional UpdateItem as written (map paths); returns whether it was written."""
    request: dict[str, Any] = {"TableName": table_name(), "Key": to_item(key),
                               "UpdateExpression": expression, "ConditionExpression": condition}
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = to_item(values)
    return _conditional("update_item", request)


def _conditional(operation: str, request: dict[str, Any]) -> bool:
    try:
        call(operation, request)
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


class Transaction:
    """The writes of one request, committed together by one TransactWriteItems.

    A write may name the error that its failed condition means to the client (`refusal`):
    commit raises the first such error among the writes that failed, else
    TransactionCancelled (a lost race, for `retry.retry` to run again). `after_commit` runs
    something once the transaction has committed.

    Before it is sent, a transaction reckons its size (marshal.item_size): an item put over
    sizes.ITEM_BYTES, writes over sizes.TRANSACTION_BYTES together, or more writes than
    sizes.TRANSACTION_ITEMS, are a 400 and nothing is written. An update or delete counts its
    key and values, and the item it changes where the store knows it (`reckon`)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.size = 0  # the estimated bytes of its writes together
        self._largest = 0  # of the items it puts
        self._refusals: dict[int, Refusal] = {}
        self._after_commit: list[Callable[[], None]] = []
        self._tallies: dict[str, int] = {}  # a tallied attribute -> its write's index

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: Item, condition: str | None = None, values: Item | None = None,
            refusal: Refusal | None = None, names: dict[str, str] | None = None) -> int:
        return self._add("Put", {"Item": to_item(item)}, condition, values, names, refusal)

    def update(self, key: Key, changes: Item, condition: str | None = None,
               values: Item | None = None, names: dict[str, str] | None = None,
               refusal: Refusal | None = None) -> int:
        """SET/REMOVE `changes` (None removes an attribute)."""
        expression, change_names, change_values = update_expression(changes)
        return self._add("Update", {"Key": to_item(key), "UpdateExpression": expression},
                         condition, change_values | (values or {}),
                         change_names | (names or {}), refusal)

    def add(self, key: Key, counters: Item, condition: str | None = None,
            values: Item | None = None, names: dict[str, str] | None = None,
            refusal: Refusal | None = None) -> int:
        """ADD to number attributes: no read-modify-write, so concurrent adds never collide."""
        expression = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
        return self.update_raw(
            key, expression, condition=condition, refusal=refusal,
            values={f":c{i}": v for i, v in enumerate(counters.values())} | (values or {}),
            names={f"#c{i}": n for i, n in enumerate(counters)} | (names or {}))

    def tally(self, key: Key, name: str, delta: int) -> None:
        """ADD `delta` to `name` once per transaction, however often it is called (DynamoDB
        refuses two writes of one item in a transaction): later calls add to the first
        call's write, whose `key` is the one written."""
        if name not in self._tallies:
            self._tallies[name] = self.add(key, {name: delta})
            return
        values = self.items[self._tallies[name]]["Update"]["ExpressionAttributeValues"]
        values[":c0"] = {"N": str(int(values[":c0"]["N"]) + delta)}

    def update_raw(self, key: Key, expression: str, *, condition: str | None = None,
                   values: Item | None = None, names: dict[str, str] | None = None,
                   refusal: Refusal | None = None) -> int:
        """An UpdateExpression as written (map paths, which `update` cannot say)."""
        return self._add("Update", {"Key": to_item(key), "UpdateExpression": expression},
                         condition, values, names, refusal)

    def delete(self, key: Key, condition: str | None = None, values: Item | None = None,
               names: dict[str, str] | None = None, refusal: Refusal | None = None) -> int:
        return self._add("Delete", {"Key": to_item(key)}, condition, values, names, refusal)

    def check(self, key: Key, condition: str, values: Item | None = None,
              names: dict[str, str] | None = None, refusal: Refusal | None = None) -> int:
        return self._add("ConditionCheck", {"Key": to_item(key)}, condition, values, names,
                         refusal)

    def _add(self, kind: str, body: dict[str, Any], condition: str | None,
             values: Item | None, names: dict[str, str] | None,
             refusal: Refusal | None) -> int:
        body["TableName"] = table_name()
        if condition:
            body["ConditionExpression"] = condition
        if values:
            body["ExpressionAttributeValues"] = to_item(values)
        if names:
            body["ExpressionAttributeNames"] = names
        self.items.append({kind: body})
        if kind == "Put":
            size = item_size(body["Item"])
            self._largest = max(self._largest, size)
        else:
            size = item_size(body["Key"]) + item_size(body.get("ExpressionAttributeValues") or {})
        self.size += size
        if refusal is not None:
            self._refusals[len(self.items) - 1] = refusal
        return len(self.items) - 1

    def reckon(self, item: Item) -> None:
        """Count the item an update or a delete of this transaction changes (as last read)."""
        self.size += item_size(to_item(item))

    def commit(self) -> None:
        if not self.items:
            return
        if self._largest > sizes.ITEM_BYTES:
            raise BadRequest(TOO_LARGE)
        if self.size > sizes.TRANSACTION_BYTES:
            raise BadRequest(TOO_LARGE_TOGETHER)
        if len(self.items) > sizes.TRANSACTION_ITEMS:
            raise BadRequest(TOO_MANY_TOGETHER)
        # The token makes botocore's own retries (after a timeout, say) idempotent: a commit
        # that landed is not applied again, nor reported as a failed condition.
        request = {"TransactItems": self.items, "ClientRequestToken": str(uuid.uuid4())}
        try:
            call("transact_write_items", request)
        except ClientError as error:
            code = error_code(error)
            if code == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                if any(r.get("Code") == "ValidationError" and too_large(r.get("Message") or "")
                       for r in reasons):
                    raise BadRequest(TOO_LARGE) from error
                cancelled = TransactionCancelled([r.get("Code", "None") for r in reasons])
            elif code == "TransactionConflictException":
                cancelled = TransactionCancelled(["TransactionConflict"])
            else:
                raise
            raise self.refusal(cancelled) from error
        for callback in self._after_commit:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def refusal(self, cancelled: TransactionCancelled) -> Exception:
        """What a cancellation means: the first named refusal that failed, else itself."""
        for index in sorted(self._refusals):
            if cancelled.failed_at(index):
                refusal = self._refusals[index]
                return refusal if isinstance(refusal, ServiceError) else refusal(cancelled)
        return cancelled


def update_expression(changes: Item) -> tuple[str, dict[str, str], Item]:
    """SET the given attributes; None removes one (index keys cannot hold NULL)."""
    sets, removes, names, values = [], [], {}, {}
    for i, (name, value) in enumerate(changes.items()):
        names[f"#f{i}"] = name
        if value is None:
            removes.append(f"#f{i}")
        else:
            sets.append(f"#f{i} = :f{i}")
            values[f":f{i}"] = value
    expression = " ".join(part for part in (
        "SET " + ", ".join(sets) if sets else "",
        "REMOVE " + ", ".join(removes) if removes else "") if part)
    return expression, names, values
