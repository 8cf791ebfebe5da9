"""`make audit-tail`: the AuditLog records of the dev server's audit carrier, one JSON per line,
as they arrive. Ctrl-C stops it.

    PORT=3000 .venv/bin/python -m tests.support.audittail

Environment read, as `make dev` reads it: PORT (3000: the dev server whose endpoint and carrier
to use), AWS_ENDPOINT_URL (set: that endpoint instead), AUDIT_CARRIER, AUDIT_QUEUE_URL and
AUDIT_STREAM_NAME (the dev server's, else the FIFO queue teamledger-audit.fifo).

The FIFO queue (the default carrier) is read as its consumer reads it: receive, print, delete.
A queue has no read position of its own, and a FIFO queue hands out a group's next message only
once the one before is deleted, so a tail that kept the messages would stall on the first of
each object. So it prints every record published once, in the order published per object,
beginning with what waits in the queue (up to 14 days of it) when it starts; two tails at once
split the records between them. The Kinesis stream (AUDIT_CARRIER=kinesis) is read from the
oldest record it keeps, as often as one likes. Either way records of one object come in commit
order; records of different objects may interleave in any order. A record can come twice (see
docs/architecture.md, "Audit stream"): its `id` tells.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3

from tests.support import devstate

POLL_INTERVAL_S = 0.2
SHARD_REFRESH_S = 5.0


# A received message stays hidden this long unless deleted: short, so a tail stopped between
# the receive and the delete leaves the object's later records waiting only briefly.
VISIBILITY_TIMEOUT_S = 5


class QueueTail:
    """A FIFO queue read as a consumer reads it: each message received once, then deleted;
    `received` keeps every message this tail took, in the order it took them."""

    def __init__(self, client: Any, queue_url: str):
        self.client = client
        self.queue_url = queue_url
        self.received: list[dict] = []

    def read_all(self) -> list[dict]:
        """Every message this tail has taken, what the queue holds now included (the tests'
        way)."""
        self.poll()
        return list(self.received)

    def poll(self) -> list[dict]:
        """The messages (Body, Attributes with MessageGroupId and MessageDeduplicationId...)
        that arrived since the last poll, each object's in order, deleted once taken."""
        found: list[dict] = []
        while messages := self.client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                VisibilityTimeout=VISIBILITY_TIMEOUT_S,
                MessageSystemAttributeNames=["All"]).get("Messages", []):
            found += messages
            self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(messages)])
        self.received += found
        return found


def body(record: dict) -> str:
    """The AuditLog JSON of a queue's message or a stream's record."""
    return record["Body"] if "Body" in record else record["Data"].decode()


def dev_tail(state: devstate.DevState, client: Callable[[str], Any]) -> QueueTail | KinesisTail:
    """A tail of the carrier a running dev server publishes to (its state file), through
    `client(service)`."""
    if state.audit_carrier == "kinesis":
        tail = KinesisTail(client("kinesis"), state.audit_stream_name)
        tail.refresh()
        return tail
    return QueueTail(client("sqs"), state.audit_queue_url)


class KinesisTail:
    """Every shard of a stream from TRIM_HORIZON; children of a split after their parent."""

    def __init__(self, client: Any, stream_name: str):
        self.client = client
        self.stream_name = stream_name
        self.iterators: dict[str, str] = {}
        self.finished: set[str] = set()

    def refresh(self) -> None:
        shards, token = [], None
        while True:
            request = {"NextToken": token} if token else {"StreamName": self.stream_name}
            response = self.client.list_shards(**request)
            shards += response["Shards"]
            token = response.get("NextToken")
            if not token:
                break
        known = {shard["ShardId"] for shard in shards}
        for shard in shards:
            shard_id = shard["ShardId"]
            parents = {shard.get("ParentShardId"), shard.get("AdjacentParentShardId")} & known
            if shard_id in self.iterators or shard_id in self.finished \
                    or parents - self.finished:
                continue
            self.iterators[shard_id] = self.client.get_shard_iterator(
                StreamName=self.stream_name, ShardId=shard_id,
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def read_all(self) -> list[dict]:
        """Every record the stream holds now, shard by shard (the tests' way)."""
        self.refresh()
        found: list[dict] = []
        while records := self.poll():
            found += records
        return found

    def poll(self) -> list[dict]:
        """The records (Data, PartitionKey, SequenceNumber...) that arrived since the last
        poll, shard by shard."""
        found: list[dict] = []
        for shard_id, iterator in list(self.iterators.items()):
            response = self.client.get_records(ShardIterator=iterator, Limit=1000)
            found += response.get("Records", [])
            next_iterator = response.get("NextShardIterator")
            if next_iterator is None:  # a closed shard, read to its end
                del self.iterators[shard_id]
                self.finished.add(shard_id)
            else:
                self.iterators[shard_id] = next_iterator
        return found


def main() -> int:
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    try:
        _, stream_name = devstate.use_dev_endpoint()
    except devstate.NoDevServer as error:
        print(f"audit-tail: {error}", file=sys.stderr)
        return 1
    carrier, name = devstate.audit_carrier(stream_name)
    tail: KinesisTail | QueueTail = (
        KinesisTail(boto3.client("kinesis"), name) if carrier == "kinesis"
        else QueueTail(boto3.client("sqs"), name))
    refreshed_at = -SHARD_REFRESH_S
    try:
        while not stop.is_set():
            if isinstance(tail, KinesisTail) and \
                    time.monotonic() - refreshed_at >= SHARD_REFRESH_S:
                tail.refresh()  # new shards after a split
                refreshed_at = time.monotonic()
            records = tail.poll()
            for record in records:
                sys.stdout.write(body(record) + "\n")
            sys.stdout.flush()
            if not records:
                stop.wait(POLL_INTERVAL_S)
    except BrokenPipeError:  # `make audit-tail | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
