"""`make audit-tail`: the AuditLog records of the Kinesis audit stream, one JSON per line, from
the oldest the stream keeps, then as they arrive. Ctrl-C stops it.

    PORT=3000 .venv/bin/python -m tests.support.audittail

Environment read, as `make dev` reads it: PORT (3000: the dev server whose endpoint to use),
AWS_ENDPOINT_URL (set: that endpoint instead), AUDIT_STREAM_NAME (the dev server's, else
teamledger-audit). Records of one object come in commit order; records of different objects
may interleave in any order (they are on different shards). A record can come twice (see
docs/architecture.md, "Audit stream"): its `id` tells.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import boto3

from tests.support import devstate

POLL_INTERVAL_S = 0.2
SHARD_REFRESH_S = 5.0


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
    tail = KinesisTail(boto3.client("kinesis"), stream_name)
    refreshed_at = -SHARD_REFRESH_S
    try:
        while not stop.is_set():
            if time.monotonic() - refreshed_at >= SHARD_REFRESH_S:
                tail.refresh()  # new shards after a split
                refreshed_at = time.monotonic()
            records = tail.poll()
            for record in records:
                sys.stdout.write(record["Data"].decode() + "\n")
            sys.stdout.flush()
            if not records:
                stop.wait(POLL_INTERVAL_S)
    except BrokenPipeError:  # `make audit-tail | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
