"""The audit publisher: AuditLog records from the table's stream onto the Kinesis audit stream.

The event-source mapping (template.yaml) filters the stream down to INSERTs of audit items and
hands them over in commit order. Each becomes the AuditLog JSON of docs/api.md, put with
partition key `object_id`.

Order per object: the records of a batch are put one after another, each with the sequence
number of its object's previous put as `SequenceNumberForOrdering`. Once a record of an object
fails, the later records of that object in the batch fail too (HeldBack): Lambda retries from
the first failed record, so nothing of an object overtakes an earlier change of it.

Once: after a put, a marker item (AuditStore.mark_published, expiring after MARKER_TTL) notes
the record's `id`; a replayed record with a marker is skipped. A crash between the put and the
marker publishes that record again on retry, so consumers dedupe by `id`.

A record that can never become an AuditLog (a poison record) fails alone; the others are
published, and Lambda's retries end it in the on-failure destination.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache, wraps
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import ClientError
from pydantic import ValidationError

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

# A stream record as Lambda hands it over: plain JSON around the DynamoDB-typed images and keys.
Record = dict[str, Any]
# The function's handler, whatever it answers (lambda_entry keeps its exact type).
HandlerT = TypeVar("HandlerT", bound=Callable[[dict[str, Any], Any], Any])

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()


class Unpublishable(Exception):
    """A stream record that can never become an AuditLog (a poison record)."""


class HeldBack(Exception):
    """An earlier record of the same object failed in this batch; this one must not overtake it."""


@lru_cache(maxsize=1)
def kinesis() -> Any:
    return aws_client("kinesis", settings().kinesis_endpoint)


def stream_name() -> str:
    name = settings().audit_stream_name
    if not name:
        raise RuntimeError("AUDIT_STREAM_NAME is not set")
    return name


def partition_key(object_id: str) -> str:
    """`object_id`; a longer one than Kinesis takes (a membership's `<team>:<user>` can be)
    becomes its sha256, still one key per object."""
    if len(object_id) <= MAX_PARTITION_KEY:
        return object_id
    return hashlib.sha256(object_id.encode()).hexdigest()


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
                             for e in error.errors())
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


@dataclass
class AuditBatch:
    """One invocation's records: their AuditLogs, which are published already, which objects
    have failed, and the last Kinesis sequence number put per partition key."""

    logs: dict[str, AuditLog | Unpublishable]
    published_ids: set[str]
    failed_objects: set[str] = field(default_factory=set)
    last_put: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"Published": 0, "AlreadyPublished": 0, "Failed": 0})

    @classmethod
    def read(cls, records: list[Record]) -> "AuditBatch":
        """Parse every record and read the markers of the batch (one BatchGetItem per 100)."""
        logs: dict[str, AuditLog | Unpublishable] = {}
        for record in records:
            try:
                logs[_sequence_number(record)] = audit_log(record)
            except Unpublishable as poison:
                logs[_sequence_number(record)] = poison
        ids = {log.id for log in logs.values() if isinstance(log, AuditLog)}
        return cls(logs, stores().audit.published(ids))

    def publish(self, record: DynamoDBRecord) -> None:
        """The record handler of Powertools' BatchProcessor; raising fails the record."""
        raw = record.raw_event
        obj = _object_of(raw)
        try:
            if obj in self.failed_objects:
                raise HeldBack("an earlier record of this object failed in this batch")
            self._publish(self.logs[_sequence_number(raw)])
        except Exception as error:
            self.failed_objects.add(obj)
            self.counts["Failed"] += 1
            logger.warning("Audit record not published", extra={
                "sequence_number": _sequence_number(raw), "reason": _reason(error)})
            raise

    def _publish(self, log: AuditLog | Unpublishable) -> None:
        if isinstance(log, Unpublishable):
            raise log
        if log.id in self.published_ids:
            self.counts["AlreadyPublished"] += 1
            return
        key = partition_key(log.object_id)
        request: dict[str, Any] = {"StreamName": stream_name(), "PartitionKey": key,
                                   "Data": log.model_dump_json().encode()}
        if key in self.last_put:
            request["SequenceNumberForOrdering"] = self.last_put[key]
        self.last_put[key] = kinesis().put_record(**request)["SequenceNumber"]
        self.published_ids.add(log.id)
        self.counts["Published"] += 1
        _mark_published(log.id)

    def add_metrics(self) -> None:
        for name, value in self.counts.items():
            if value:
                metrics.add_metric(name=f"AuditRecords{name}", unit=MetricUnit.Count, value=value)


def _mark_published(audit_id: str) -> None:
    # The record is on the stream whatever happens here: failing it now would publish it twice.
    expires = int((utcnow() + MARKER_TTL).timestamp())
    try:
        stores().audit.mark_published(audit_id, expires)
    except Exception as error:
        logger.warning("Published audit record not marked; a replay would publish it again",
                       extra={"audit_id": audit_id, "reason": _reason(error)})


def _reason(error: Exception) -> str:
    """Why a record failed, without record content: our own messages, AWS error codes."""
    if isinstance(error, Unpublishable | HeldBack):
        return str(error)
    if isinstance(error, ClientError):
        return f"{error.operation_name}: {error.response['Error'].get('Code', 'error')}"
    return type(error).__name__


def lambda_entry(handler: HandlerT) -> HandlerT:
    """Logger, Tracer and Metrics around the publisher's handler, as api.lambda_entry does for
    the routes. The event is never logged."""

    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics(raise_on_empty_metrics=False, capture_cold_start_metric=True)
    @wraps(handler)
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    # Powertools' decorators are typed as returning Any; the handler keeps its call and answer.
    wrapped: HandlerT = lambda_handler
    return wrapped
