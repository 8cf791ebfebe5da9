"""The audit publisher: AuditLog records from the table's stream onto the audit carrier, an SQS
FIFO queue (the default: it costs nothing idle) or a Kinesis stream (template.yaml's
AuditCarrier, the environment's AUDIT_CARRIER).

The event-source mapping (template.yaml) filters the stream down to INSERTs of audit items and
hands them over in commit order. Each becomes the AuditLog JSON of docs/api.md, sent with its
object as the queue's MessageGroupId and its `id` as MessageDeduplicationId, or put on the
stream with its object as partition key.

Order per object: a batch goes out in rounds, each holding at most one record per object (its
earliest one not yet out): one SendMessageBatch of up to 10 records, or one PutRecord with the
sequence number of its object's previous put as `SequenceNumberForOrdering`. Once a record of
an object fails, the later records of that object in the batch fail too (HeldBack): Lambda
retries from the first failed record, so nothing of an object overtakes an earlier change of it.

Once: after a record went out, a marker item (AuditStore.mark_published, expiring after
MARKER_TTL) notes its `id`; a replayed record with a marker is skipped. A crash between the
send and the marker sends that record again on retry: the FIFO queue drops it if it comes within
its 5-minute deduplication window, and consumers dedupe by `id` beyond that (on Kinesis always).

A record that can never become an AuditLog (a poison record) fails alone; the others are
published, and Lambda's retries end it in the on-failure destination.
"""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import ClientError
from pydantic_core import ValidationError

from teamledger.config import settings
from teamledger.http.models import AuditLog
from teamledger.store import stores
from teamledger.store.client import aws_client
from teamledger.store.marshal import from_item
from teamledger.timestamps import utcnow

FIELDS = tuple(AuditLog.model_fields)
# Longer than the table stream's 24 hours, the longest a record can be replayed from it.
MARKER_TTL = timedelta(days=7)
MAX_PARTITION_KEY = 256  # Kinesis' limit, in characters
# SQS: a MessageGroupId is 1 to 128 of these (printable ASCII but the space).
MESSAGE_GROUP_ID = re.compile(r"[!-~]{1,128}")
MAX_BATCH_ENTRIES = 10  # SendMessageBatch's limit
MAX_BATCH_BYTES = 1_048_576  # SendMessageBatch's bodies together, and Kinesis' record
# The only characters JSON leaves unescaped that an SQS message may not hold.
NOT_FOR_SQS = re.compile("[\ufffe\uffff]")

# A stream record as Lambda hands it over: plain JSON around the DynamoDB-typed images and keys.
Record = dict[str, Any]

logger = Logger()
metrics = Metrics()


class Unpublishable(Exception):
    """A stream record that can never become an AuditLog (a poison record)."""


class HeldBack(Exception):
    """An earlier record of the same object failed in this batch; this one must not overtake it."""


class Refused(Exception):
    """The carrier refused one entry of a batch it otherwise took (SendMessageBatch's Failed)."""

    def __init__(self, operation: str, code: str):
        super().__init__(f"{operation}: {code}")


# Clients are made on first use, so a publisher builds only its own carrier's.
@lru_cache(maxsize=1)
def kinesis() -> Any:
    return aws_client("kinesis", settings().kinesis_endpoint)


@lru_cache(maxsize=1)
def sqs() -> Any:
    return aws_client("sqs", settings().sqs_endpoint)


def stream_name() -> str:
    name = settings().audit_stream_name
    if not name:
        raise RuntimeError("AUDIT_STREAM_NAME is not set")
    return name


def queue_url() -> str:
    url = settings().audit_queue_url
    if not url:
        raise RuntimeError("AUDIT_QUEUE_URL is not set")
    return url


def _digest(object_id: str) -> str:
    return hashlib.sha256(object_id.encode()).hexdigest()


def partition_key(object_id: str) -> str:
    """`object_id`; a longer one than Kinesis takes (a membership's `<team>:<user>` can be)
    becomes its sha256, still one key per object."""
    return object_id if len(object_id) <= MAX_PARTITION_KEY else _digest(object_id)


def message_group(object_id: str) -> str:
    """`object_id`, or its sha256 when SQS would refuse it as a MessageGroupId (over 128
    characters, or one that is not printable ASCII): still one group per object."""
    return object_id if MESSAGE_GROUP_ID.fullmatch(object_id) else _digest(object_id)


def message(log: AuditLog) -> str:
    """The AuditLog's JSON as a carrier takes it (U+FFFE and U+FFFF escaped: SQS refuses them
    raw; still the same JSON)."""
    return NOT_FOR_SQS.sub(lambda found: f"\\u{ord(found.group()):04x}", log.model_dump_json())


def audit_log(record: Record) -> AuditLog:
    """The AuditLog of a stream record's new image; Unpublishable if it has none."""
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image:
        raise Unpublishable("the record has no new image")
    try:
        values = from_item(image)
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        raise Unpublishable("the new image holds a value an AuditLog cannot") from None
    try:
        log = AuditLog.model_validate({name: values.get(name) for name in FIELDS})
    except ValidationError as error:
        # Locations and types only: the values are the record's content.
        problems = ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}"
                             for e in error.errors(include_url=False))
        raise Unpublishable(f"the new image is not an AuditLog ({problems})") from None
    if not (log.id and log.object_id):
        raise Unpublishable("the new image has an empty id or object_id")
    return log


def _sequence_number(record: Record) -> str:
    number: str = record["dynamodb"]["SequenceNumber"]
    return number


def _object_of(record: Record) -> str:
    """What orders records: the audit item's partition, one per object (a poison record's
    too, whatever its image holds)."""
    partition = ((record.get("dynamodb") or {}).get("Keys") or {}).get("PK") or {}
    return partition.get("S") or _sequence_number(record)


class Carrier(Protocol):
    """Where AuditLogs go. `send` takes at most `max_entries` records of distinct objects (their
    bodies at most MAX_BATCH_BYTES together, unless one alone is larger) and answers, per
    record, None (sent) or why not."""

    max_entries: int

    def send(self, logs: list[tuple[AuditLog, str]]) -> list[Exception | None]: ...


class FifoQueue:
    """The SQS FIFO queue: SendMessageBatch, one message group per object, deduplicated by id."""

    max_entries = MAX_BATCH_ENTRIES

    def send(self, logs: list[tuple[AuditLog, str]]) -> list[Exception | None]:
        entries = [{"Id": str(n), "MessageBody": body, "MessageGroupId": message_group(
                        log.object_id), "MessageDeduplicationId": log.id}
                   for n, (log, body) in enumerate(logs)]
        try:
            response = sqs().send_message_batch(QueueUrl=queue_url(), Entries=entries)
        except Exception as error:  # the whole call failed: every record of it did
            return [error] * len(logs)
        refused: dict[str, Exception] = {
            failure["Id"]: Refused("SendMessageBatch", failure.get("Code", "error"))
            for failure in response.get("Failed", [])}
        return [refused.get(str(n)) for n in range(len(logs))]


@dataclass
class KinesisStream:
    """The Kinesis stream: one PutRecord at a time, chained per partition key."""

    max_entries = 1
    last_put: dict[str, str] = field(default_factory=dict)

    def send(self, logs: list[tuple[AuditLog, str]]) -> list[Exception | None]:
        ((log, body),) = logs
        key = partition_key(log.object_id)
        request: dict[str, Any] = {"StreamName": stream_name(), "PartitionKey": key,
                                   "Data": body.encode()}
        if key in self.last_put:
            request["SequenceNumberForOrdering"] = self.last_put[key]
        try:
            self.last_put[key] = kinesis().put_record(**request)["SequenceNumber"]
        except Exception as error:
            return [error]
        return [None]


def carrier() -> Carrier:
    """The carrier AUDIT_CARRIER names (a new one per batch: Kinesis chains within a batch)."""
    name = settings().audit_carrier
    if name == "sqs-fifo":
        return FifoQueue()
    if name == "kinesis":
        return KinesisStream()
    raise RuntimeError(f"AUDIT_CARRIER is {name!r}, not sqs-fifo or kinesis")


@dataclass
class AuditBatch:
    """One invocation's records (sequence number -> its object and AuditLog), which are
    published already, which objects have failed, and why each failed record did."""

    logs: dict[str, tuple[str, AuditLog | Unpublishable]]
    published_ids: set[str]
    failed_objects: set[str] = field(default_factory=set)
    failures: dict[str, Exception] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"Published": 0, "AlreadyPublished": 0, "Failed": 0})

    @classmethod
    def read(cls, records: list[Record]) -> "AuditBatch":
        """Parse every record and read the markers of the batch (one BatchGetItem per 100)."""
        logs: dict[str, tuple[str, AuditLog | Unpublishable]] = {}
        for record in records:
            try:
                log: AuditLog | Unpublishable = audit_log(record)
            except Unpublishable as poison:
                log = poison
            logs[_sequence_number(record)] = (_object_of(record), log)
        ids = {log.id for _, log in logs.values() if isinstance(log, AuditLog)}
        return cls(logs, stores().audit.published(ids))

    def send(self, to: Carrier | None = None) -> None:
        """Publish every record in rounds: each round takes the earliest waiting record of
        each object, settles it at once if it is poison, held back or published already, and
        sends the others together as far as the carrier takes them; the rest wait."""
        to = to or carrier()
        waiting = list(self.logs)  # stream order
        while waiting:
            chosen: list[tuple[str, AuditLog, str]] = []
            settled: set[str] = set()
            seen: set[str] = set()
            size = 0
            for number in waiting:
                obj, log = self.logs[number]
                if obj in seen:
                    continue
                seen.add(obj)
                if obj in self.failed_objects:
                    self._fail(number, HeldBack("an earlier record of this object failed in "
                                                "this batch"))
                elif isinstance(log, Unpublishable):
                    self._fail(number, log)
                elif log.id in self.published_ids:
                    self.counts["AlreadyPublished"] += 1
                else:
                    body = message(log)
                    if len(chosen) == to.max_entries or (
                            chosen and size + len(body.encode()) > MAX_BATCH_BYTES):
                        continue  # the next round's
                    chosen.append((number, log, body))
                    size += len(body.encode())
                settled.add(number)
            outcomes = to.send([(log, body) for _, log, body in chosen]) if chosen else []
            for (number, log, _), error in zip(chosen, outcomes, strict=True):
                if error is None:
                    self._published(log)
                else:
                    self._fail(number, error)
            waiting = [number for number in waiting if number not in settled]

    def publish(self, record: DynamoDBRecord) -> None:
        """The record handler of Powertools' BatchProcessor, after `send`: raising fails the
        record."""
        failure = self.failures.get(_sequence_number(record.raw_event))
        if failure is not None:
            raise failure

    def _published(self, log: AuditLog) -> None:
        self.published_ids.add(log.id)
        self.counts["Published"] += 1
        _mark_published(log.id)

    def _fail(self, number: str, error: Exception) -> None:
        self.failures[number] = error
        self.failed_objects.add(self.logs[number][0])
        self.counts["Failed"] += 1
        logger.warning("Audit record not published", extra={
            "sequence_number": number, "reason": _reason(error)})

    def add_metrics(self) -> None:
        for name, value in self.counts.items():
            if value:
                metrics.add_metric(name=f"AuditRecords{name}", unit=MetricUnit.Count, value=value)


def _mark_published(audit_id: str) -> None:
    # The record is out whatever happens here: failing it now would publish it twice.
    expires = int((utcnow() + MARKER_TTL).timestamp())
    try:
        stores().audit.mark_published(audit_id, expires)
    except Exception as error:
        logger.warning("Published audit record not marked; a replay would publish it again",
                       extra={"audit_id": audit_id, "reason": _reason(error)})


def _reason(error: Exception) -> str:
    """Why a record failed, without record content: our own messages, AWS error codes."""
    if isinstance(error, Unpublishable | HeldBack | Refused):
        return str(error)
    if isinstance(error, ClientError):
        return f"{error.operation_name}: {error.response['Error'].get('Code', 'error')}"
    return type(error).__name__
