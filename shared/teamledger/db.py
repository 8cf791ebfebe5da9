"""DynamoDB access: one low-level client per execution environment, plain-Python items.

botocore is used directly (no boto3 resource layer) because it is what a cold start pays for.
"""

import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from teamledger.config import settings
from teamledger.errors import Busy, TransactionCancelled

ATTEMPTS = 10


def attempts(limit: int = ATTEMPTS) -> Iterator[int]:
    """The rounds of an optimistic read-check-write loop, with jittered backoff between them
    so that writers who lost a race do not collide again in lockstep."""
    for attempt in range(limit):
        if attempt:
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** attempt)))
        yield attempt


def aws_client(service: str, endpoint_url: str | None):
    """A botocore client with the layer's timeouts and retries (shared by every AWS call)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2,
                    read_timeout=5, tcp_keepalive=True)
    return botocore.session.get_session().create_client(
        service, endpoint_url=endpoint_url, config=config)


@lru_cache(maxsize=1)
def client():
    return aws_client("dynamodb", settings().dynamodb_endpoint)


def table_name() -> str:
    return settings().table_name


# --- marshalling -------------------------------------------------------------------------

def to_attr(value: Any) -> dict:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("non-finite number")
        return {"N": _number_text(value)}
    if isinstance(value, dict):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def _number_text(value: int | float | Decimal) -> str:
    # The shortest decimal that reads back as the same float, without an exponent: DynamoDB
    # takes either, but moto's ADD cannot parse "1e-10".
    return format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)


def from_attr(attr: dict) -> Any:
    (kind, value), = attr.items()
    if kind == "S":
        return value
    if kind == "N":
        return _number(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [from_attr(v) for v in value]
    raise TypeError(f"unexpected attribute type {kind}")


def _number(text: str) -> int | float:
    number = Decimal(text)
    if number == number.to_integral_value() and "." not in text and "E" not in text.upper():
        return int(number)
    return float(number)


def to_item(values: dict) -> dict:
    return {k: to_attr(v) for k, v in values.items()}


def from_item(item: dict) -> dict:
    return {k: from_attr(v) for k, v in item.items()}


# --- reads -------------------------------------------------------------------------------

def get(key: dict, *, consistent: bool = True, attributes: tuple[str, ...] = ()) -> dict | None:
    request: dict = {"TableName": table_name(), "Key": to_item(key), "ConsistentRead": consistent}
    if attributes:
        request["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        request["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
    item = _call("get_item", request).get("Item")
    return from_item(item) if item else None


def batch_get(keys: list[dict], *, consistent: bool = True) -> list[dict]:
    """All items that exist among `keys` (any order); unprocessed keys are retried."""
    found: list[dict] = []
    unique = list({(k["PK"], k["SK"]): k for k in keys}.values())
    for start in range(0, len(unique), 100):
        pending = {table_name(): {"Keys": [to_item(k) for k in unique[start:start + 100]],
                                  "ConsistentRead": consistent}}
        for _ in range(8):
            response = _call("batch_get_item", {"RequestItems": pending})
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
    names: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)


def _query_request(pk_value: str, index: str | None, sk_prefix: str | None, consistent: bool,
                   limit: int | None, forward: bool, start_key: dict | None,
                   where: Filter | None, sk_between: tuple[str, str] | None = None) -> dict:
    pk_name, sk_name = (f"{index}PK", f"{index}SK") if index else ("PK", "SK")
    condition = "#pk = :pk"
    names = {"#pk": pk_name}
    values = {":pk": {"S": pk_value}}
    if sk_prefix is not None:
        condition += " AND begins_with(#sk, :sk)"
        names["#sk"] = sk_name
        values[":sk"] = {"S": sk_prefix}
    if sk_between is not None:
        condition += " AND #sk BETWEEN :low AND :high"
        names["#sk"] = sk_name
        values |= {":low": {"S": sk_between[0]}, ":high": {"S": sk_between[1]}}
    if where is not None:
        names |= where.names
        values |= to_item(where.values)
    request: dict = {"TableName": table_name(), "KeyConditionExpression": condition,
                     "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
                     "ScanIndexForward": forward}
    if where is not None:
        request["FilterExpression"] = where.expression
    if index:
        request["IndexName"] = index
    else:
        request["ConsistentRead"] = consistent
    if limit:
        request["Limit"] = limit
    if start_key:
        request["ExclusiveStartKey"] = start_key
    return request


def query(pk_value: str, *, index: str | None = None, sk_prefix: str | None = None,
          consistent: bool = False, limit: int | None = None, forward: bool = True,
          start_key: dict | None = None, where: Filter | None = None,
          sk_between: tuple[str, str] | None = None) -> tuple[list[dict], dict | None]:
    """One page of a Query on the base table or an index; returns (items, last_evaluated_key).
    `start_key` and the key returned are plain dicts of the key attributes."""
    request = _query_request(pk_value, index, sk_prefix, consistent, limit, forward,
                             to_item(start_key) if start_key else None, where, sk_between)
    response = _call("query", request)
    last = response.get("LastEvaluatedKey")
    return [from_item(i) for i in response.get("Items", [])], from_item(last) if last else None


def count(pk_value: str, *, index: str | None = None, where: Filter | None = None) -> int:
    """How many items of a partition match `where` (Select=COUNT, every page)."""
    total, start_key = 0, None
    while True:
        request = _query_request(pk_value, index, None, False, None, True, start_key, where)
        response = _call("query", request | {"Select": "COUNT"})
        total += response.get("Count", 0)
        start_key = response.get("LastEvaluatedKey")
        if not start_key:
            return total


def query_all(pk_value: str, **kwargs) -> Iterator[dict]:
    start_key = None
    while True:
        items, start_key = query(pk_value, start_key=start_key, **kwargs)
        yield from items
        if not start_key:
            return


def _call(operation: str, request: dict) -> dict:
    try:
        return getattr(client(), operation)(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] in _BUSY_CODES:
            raise Busy("The table is busy; please retry") from error
        raise
    except (BotocoreConnectionError, HTTPClientError) as error:  # timeouts; after retries
        raise Busy("The table did not answer in time; please retry") from error


# TransactionInProgressException: botocore's retry of a transaction (same ClientRequestToken)
# reached DynamoDB while the first attempt was still being applied; the outcome is unknown.
_BUSY_CODES = {"ProvisionedThroughputExceededException", "ThrottlingException",
               "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
               "TransactionInProgressException"}


# --- writes ------------------------------------------------------------------------------

def put_new(item: dict) -> bool:
    """Put `item` unless an item with its key exists; returns whether it was written."""
    try:
        _call("put_item", {"TableName": table_name(), "Item": to_item(item),
                           "ConditionExpression": "attribute_not_exists(PK)"})
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def update_if(key: dict, expression: str, condition: str, values: dict | None = None,
              names: dict | None = None) -> bool:
    """One conditional UpdateItem outside any transaction; returns whether it was written."""
    request = {"TableName": table_name(), "Key": to_item(key), "UpdateExpression": expression,
               "ConditionExpression": condition}
    if values:
        request["ExpressionAttributeValues"] = to_item(values)
    if names:
        request["ExpressionAttributeNames"] = names
    try:
        _call("update_item", request)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


class Transaction:
    """The writes of one request, committed together by one TransactWriteItems."""

    def __init__(self):
        self.items: list[dict] = []

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: dict, condition: str | None = None, values: dict | None = None) -> int:
        return self._add("Put", {"Item": to_item(item)}, condition, values)

    def update(self, key: dict, expression: str, values: dict | None = None,
               condition: str | None = None, names: dict | None = None) -> int:
        body = {"Key": to_item(key), "UpdateExpression": expression}
        return self._add("Update", body, condition, values, names)

    def delete(self, key: dict, condition: str | None = None, values: dict | None = None,
               names: dict | None = None) -> int:
        return self._add("Delete", {"Key": to_item(key)}, condition, values, names)

    def check(self, key: dict, condition: str, values: dict | None = None,
              names: dict | None = None) -> int:
        return self._add("ConditionCheck", {"Key": to_item(key)}, condition, values, names)

    def _add(self, kind: str, body: dict, condition: str | None, values: dict | None,
             names: dict | None = None) -> int:
        body["TableName"] = table_name()
        if condition:
            body["ConditionExpression"] = condition
        if values:
            body["ExpressionAttributeValues"] = to_item(values)
        if names:
            body["ExpressionAttributeNames"] = names
        self.items.append({kind: body})
        return len(self.items) - 1

    def commit(self) -> None:
        if not self.items:
            return
        # The token makes botocore's own retries (after a timeout, say) idempotent: a commit
        # that landed is not applied again, nor reported as a failed condition.
        request = {"TransactItems": self.items, "ClientRequestToken": str(uuid.uuid4())}
        try:
            _call("transact_write_items", request)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                raise TransactionCancelled([r.get("Code", "None") for r in reasons]) from error
            if error.response["Error"]["Code"] == "TransactionConflictException":
                raise TransactionCancelled(["TransactionConflict"]) from error
            raise


def update_expression(changes: dict) -> tuple[str, dict, dict]:
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
