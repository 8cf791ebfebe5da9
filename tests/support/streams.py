"""A table's DynamoDB stream as Lambda's event-source mapping reads it, for `make dev` and tests.

`TableStream` reads the shards of a table's stream in order; `lambda_record` turns a GetRecords
record into the record of the event Lambda sends; `passes` applies a mapping's FilterCriteria;
`StreamPoller` is the mapping itself: batches, filter, invoke, and on `batchItemFailures` a
retry from the first failed record, up to MaximumRetryAttempts, then Lambda's on-failure
message to the mapping's dead-letter queue (`QueueDeadLetters`), and on past the batch.

Records are handed over as the stream's JSON holds them, as Lambda hands them over, not as
botocore's model parses them: a record that botocore cannot parse (moto streams an empty map
key so) would otherwise fail every GetRecords of its shard, and nothing behind it would ever
come (issue 13). Read raw, such a record reaches the function like any other, fails there, and
takes the dead-letter path.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from tests.support.apigw import lambda_context
from tests.support.template import StreamConsumer

log = logging.getLogger("teamledger.devserver")

POLL_INTERVAL_S = 0.25  # Lambda polls a stream's shards four times a second
SHARD_REFRESH_S = 5.0
MAX_BACKOFF_S = 5.0


RAW_RECORDS = "TeamLedgerRawRecords"  # where the records go in GetRecords' answer, unparsed


def lambda_record(record: dict, stream_arn: str) -> dict:
    """A GetRecords record (as its JSON holds it, or as botocore parses it) as a record of
    Lambda's DynamoDB event."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())  # Lambda: epoch s
    elif isinstance(created, int | float):
        dynamodb["ApproximateCreationDateTime"] = int(created)
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record["awsRegion"],
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def _keep_records_raw(response_dict: dict, customized_response_dict: dict, **_: Any) -> None:
    """botocore's before-parse hook of GetRecords: the records leave the body before botocore
    parses it (its model would choke on a record moto cannot serialize, failing the whole
    read) and come back under RAW_RECORDS as the JSON had them, as Lambda passes them on."""
    if response_dict.get("status_code") != 200:
        return  # an error: botocore's to parse
    body = json.loads(response_dict["body"] or b"{}")
    customized_response_dict[RAW_RECORDS] = body.pop("Records", [])
    response_dict["body"] = json.dumps(body).encode()


def passes(filters: tuple[dict, ...], record: dict) -> bool:
    """Lambda event filtering: a record goes through if any pattern matches (or there is none).
    The rules implemented are exact values, `exists` and `prefix`; others raise."""
    return not filters or any(_matches(pattern, record) for pattern in filters)


def _matches(pattern: dict, value: dict) -> bool:
    for key, expected in pattern.items():
        if isinstance(expected, dict):
            inner = value.get(key, {})
            if not (isinstance(inner, dict) and _matches(expected, inner)):
                return False
        elif not any(_rule_matches(rule, key in value, value.get(key)) for rule in expected):
            return False
    return True


def _rule_matches(rule: Any, present: bool, actual: Any) -> bool:
    if not isinstance(rule, dict):
        return present and actual == rule
    (operator, argument), = rule.items()
    if operator == "exists":
        return present == argument
    if operator == "prefix":
        return present and isinstance(actual, str) and actual.startswith(argument)
    raise NotImplementedError(f"filter rule {operator!r} is not emulated locally")


class TableStream:
    """The shards of a table's stream, each read in order from `position` (TRIM_HORIZON or
    LATEST); shards found later (after a split) are read from their start."""

    def __init__(self, client: Any, stream_arn: str, position: str = "TRIM_HORIZON"):
        self.client = client
        client.meta.events.register("before-parse.dynamodb-streams.GetRecords",
                                    _keep_records_raw, unique_id="teamledger-raw-records")
        self.stream_arn = stream_arn
        self.iterators: dict[str, str] = {}
        self._finished: set[str] = set()
        self._position = position
        self.refresh()
        self._position = "TRIM_HORIZON"

    def refresh(self) -> None:
        """Pick up shards not known yet; a child starts once its parent is read to its end."""
        shards, start = [], None
        while True:
            request = {"StreamArn": self.stream_arn} | (
                {"ExclusiveStartShardId": start} if start else {})
            description = self.client.describe_stream(**request)["StreamDescription"]
            shards += description["Shards"]
            start = description.get("LastEvaluatedShardId")
            if not start:
                break
        known = {shard["ShardId"] for shard in shards}
        for shard in shards:
            shard_id, parent = shard["ShardId"], shard.get("ParentShardId")
            if shard_id in self.iterators or shard_id in self._finished:
                continue
            if parent in known and parent not in self._finished:
                continue
            self.iterators[shard_id] = self.iterator(shard_id, self._position)

    def iterator(self, shard_id: str, position: str, sequence_number: str | None = None) -> str:
        request = {"StreamArn": self.stream_arn, "ShardId": shard_id,
                   "ShardIteratorType": position}
        if sequence_number is not None:
            request["SequenceNumber"] = sequence_number
        return self.client.get_shard_iterator(**request)["ShardIterator"]

    def read(self, shard_id: str, limit: int) -> tuple[list[dict], str | None]:
        """Up to `limit` records of a shard (Lambda's shape) and the iterator after them."""
        response = self.client.get_records(ShardIterator=self.iterators[shard_id], Limit=limit)
        raw = response.get(RAW_RECORDS, response.get("Records", []))
        records = [lambda_record(r, self.stream_arn) for r in raw]
        return records, response.get("NextShardIterator")

    def advance(self, shard_id: str, next_iterator: str | None) -> None:
        if next_iterator is None:  # a closed shard, read to its end
            del self.iterators[shard_id]
            self._finished.add(shard_id)
        else:
            self.iterators[shard_id] = next_iterator

    def rewind(self, shard_id: str, sequence_number: str) -> None:
        """Read the shard again from this record (a retry)."""
        self.iterators[shard_id] = self.iterator(shard_id, "AT_SEQUENCE_NUMBER", sequence_number)

    def read_all(self, limit: int = 1000) -> list[dict]:
        """Everything not read yet, shard after shard (the tests' way)."""
        found = []
        self.refresh()
        for shard_id in list(self.iterators):
            while shard_id in self.iterators:
                records, next_iterator = self.read(shard_id, limit)
                self.advance(shard_id, next_iterator)
                found += records
                if not records:
                    break
        return found


class DeadLetters(Protocol):
    """Where a mapping sends what it gave up on (its on-failure destination)."""

    def send(self, message: dict) -> str: ...


class QueueDeadLetters:
    """An SQS queue as the on-failure destination (the template's dead-letter queue, made on
    make dev's moto): each message is Lambda's JSON about one batch given up on."""

    def __init__(self, client: Any, url: str):
        self.client = client
        self.url = url

    def send(self, message: dict) -> str:
        self.client.send_message(QueueUrl=self.url, MessageBody=json.dumps(message))
        return self.url


class StreamPoller:
    """`make dev`'s event-source mapping: the table's stream into one function, as Lambda
    feeds it (a BackgroundTask of the dev server). A batch it gives up on goes to
    `dead_letters` (the function's on-failure destination), if it has one, else only to the
    log, as Lambda drops it then."""

    def __init__(self, consumer: StreamConsumer, stream_client: Any, stream_arn: str,
                 invocation_lock: threading.Lock, dead_letters: DeadLetters | None = None):
        self.consumer = consumer
        self.stream = TableStream(stream_client, stream_arn, consumer.starting_position)
        self.dead_letters = dead_letters
        self._lock = invocation_lock
        self._handler: Callable[[dict, Any], Any] | None = None
        self._attempts: dict[str, int] = {}
        self._refreshed_at = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"poller-{self.consumer.function}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception as error:  # moto going away on stop, a bug in a handler's import
                log.warning("%s: stream poll failed: %r", self.consumer.function, error)
                busy = False
            if not busy:
                self._stop.wait(POLL_INTERVAL_S)

    def poll_once(self) -> bool:
        """One read of every shard; True if records came (poll again at once)."""
        if time.monotonic() - self._refreshed_at >= SHARD_REFRESH_S or not self.stream.iterators:
            self.stream.refresh()  # shards after a split
            self._refreshed_at = time.monotonic()
        busy = False
        for shard_id in list(self.stream.iterators):
            records, next_iterator = self.stream.read(shard_id, self.consumer.batch_size)
            busy = busy or bool(records)
            batch = [r for r in records if passes(self.consumer.filters, r)]
            failed_from = self._deliver(batch) if batch else None
            if failed_from is None or self._gives_up(shard_id, batch):
                self._attempts.pop(shard_id, None)
                self.stream.advance(shard_id, next_iterator)
            else:
                self.stream.rewind(shard_id, failed_from)
                self._stop.wait(min(MAX_BACKOFF_S, 0.5 * self._attempts[shard_id]))
        return busy

    def _deliver(self, batch: list[dict]) -> str | None:
        """Invoke the function; the sequence number to retry from, or None when all went."""
        started = time.perf_counter()
        try:
            with self._lock:
                result = self._function()({"Records": batch},
                                          lambda_context(function_name=self.consumer.function))
            failures = [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])]
        except Exception:
            log.exception("%s failed; the whole batch is retried", self.consumer.function)
            failures = [batch[0]["dynamodb"]["SequenceNumber"]]
        elapsed_ms = (time.perf_counter() - started) * 1000
        # A batch that went through is routine (one per change): the console shows requests.
        log.log(logging.INFO if failures else logging.DEBUG, "%s %d records, %d failed %.1fms",
                self.consumer.function, len(batch), len(failures), elapsed_ms)
        return min(failures, key=int) if failures else None

    def _gives_up(self, shard_id: str, batch: list[dict]) -> bool:
        attempts = self._attempts[shard_id] = self._attempts.get(shard_id, 0) + 1
        limit = self.consumer.maximum_retry_attempts
        if limit < 0 or attempts <= limit:
            return False
        first, last = (batch[i]["dynamodb"]["SequenceNumber"] for i in (0, -1))
        if self.dead_letters is None:
            where = "dropped: the function has no on-failure destination"
        else:
            try:
                where = "sent to the dead-letter queue " + self.dead_letters.send(
                    self.failure_message(shard_id, batch, attempts))
            except Exception as error:  # the batch is given up whatever: the log has it
                where = f"NOT sent to the dead-letter queue ({error!r})"
        log.error("%s: gave up on records %s..%s of %s after %d retries; %s",
                  self.consumer.function, first, last, shard_id, limit, where)
        return True

    def failure_message(self, shard_id: str, batch: list[dict], attempts: int) -> dict:
        """What Lambda sends the on-failure destination of a stream mapping (the batch's shard
        and sequence-number range, not its content), plus, locally only, the batch's records:
        moto's stream is not easily read again by hand."""
        arrived = [datetime.fromtimestamp(batch[i]["dynamodb"].get(
            "ApproximateCreationDateTime", 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for i in (0, -1)]
        region, account = self.stream.stream_arn.split(":")[3:5]
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{region}:{account}:function:"
                               f"{self.consumer.function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": None},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrived[0],
                "approximateArrivalOfLastRecord": arrived[1],
                "batchSize": len(batch),
                "streamArn": self.stream.stream_arn},
            "records": batch,
        }

    def _function(self) -> Callable[[dict, Any], Any]:
        if self._handler is None:
            module = importlib.import_module(self.consumer.module)
            self._handler = getattr(module, self.consumer.handler)
        return self._handler


class SpendOrderFeed:
    """The spend-order consumer as its mapping feeds it: the table's stream from now on,
    filtered as template.yaml filters it, handed to the function's own handler."""

    def __init__(self, table_name: str):
        import boto3

        from tests.support.apigw import lambda_context
        from tests.support.template import load_template, stream_consumers

        self.consumer = next(c for c in stream_consumers(load_template())
                             if c.function == "SpendOrderFunction")
        arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"][
            "LatestStreamArn"]
        self.stream = TableStream(boto3.client("dynamodbstreams"), arn, "LATEST")
        self.context = lambda_context("SpendOrderFunction")

    def deliver(self) -> int:
        """One batch of everything new; returns how many places were written."""
        from functions.spend_order.app import lambda_handler

        records = [r for r in self.stream.read_all() if passes(self.consumer.filters, r)]
        return int(lambda_handler({"Records": records}, self.context)["placed"])
