"""The audit publisher: audit INSERTs of the table's stream onto the audit carrier (an SQS FIFO
queue, or a Kinesis stream)."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from teamledger.stream.audit_publisher import AuditBatch
from teamledger.stream.entry import lambda_entry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

# A batch whose every record failed is answered like any other (Lambda retries from the first
# failed record); a function error is left to crashes and timeouts, which the mapping bisects.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams,
                           raise_on_entire_batch_failure=False)


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> "PartialItemFailureResponse":
    batch = AuditBatch.read(event["Records"])
    batch.send()
    response = process_partial_response(
        event=event, record_handler=batch.publish, processor=processor, context=context)
    batch.add_metrics()
    return response
