"""A change stuck behind a record the audit publisher cannot get through, and make dev's poller
of the table's stream to watch what happens to it (tests/integration's test_audit_stream.py:
a record the function fails on; test_stream_dead_letters.py: one botocore cannot read)."""

import dataclasses
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import boto3

from tests.support.streams import DeadLetters, StreamPoller
from tests.support.template import StreamConsumer


def retrying_poller(consumer: StreamConsumer, retries: int = 1,
                    dead_letters: DeadLetters | None = None) -> StreamPoller:
    """make dev's poller of `consumer` on the test table's stream from now on, giving up on a
    record after `retries` retries (to `dead_letters`, if given)."""
    table = boto3.client("dynamodb").describe_table(TableName=os.environ["TABLE_NAME"])["Table"]
    consumer = dataclasses.replace(consumer, starting_position="LATEST",
                                   maximum_retry_attempts=retries)
    return StreamPoller(consumer, boto3.client("dynamodbstreams"), table["LatestStreamArn"],
                        threading.Lock(), dead_letters=dead_letters)


def stuck_change(api: Any, write_odd: Callable[[str], None], prefix: str) -> tuple[str, str]:
    """A team whose block sits behind an odd record of its own (written by `write_odd`), and
    another team made after both: their ids."""
    tag = uuid.uuid4().hex[:8]
    team_id, other = f"{prefix}-{tag}", f"{prefix}-other-{tag}"
    api.new_team(team_id=team_id)
    write_odd(team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    api.new_team(team_id=other)
    return team_id, other
