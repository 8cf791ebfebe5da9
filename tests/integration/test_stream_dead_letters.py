"""make dev's stream poller and a record it cannot get through (issue 13, defect 7).

A `/team/update` with `{"metadata": {"": 1}}` once left an audit item with an empty map key in
moto. moto streams such an item in a form botocore cannot parse, so every GetRecords of the
poller failed, at every poll, and nothing after the record ever reached the audit stream (nor
the spend order). In AWS the record would reach the function, fail there, be retried
MaximumRetryAttempts times and then go to the function's on-failure destination (the SQS
queue of template.yaml), and the stream would flow on. The poller does the same now: it hands
the function the records as the stream holds them (as Lambda does: JSON, not botocore's
model), retries a failing record a bounded number of times, then sends Lambda's on-failure
message to the consumer's dead-letter queue, logs it, and moves on."""

import dataclasses
import json
import os
import threading
import uuid

import boto3
import pytest

from tests.support.streams import QueueDeadLetters, StreamPoller, TableStream, passes
from tests.support.stuckstream import retrying_poller, stuck_change
from tests.support.template import create_queue, load_template, stream_consumers

CONSUMERS = {c.function: c for c in stream_consumers(load_template())}
PUBLISHER = CONSUMERS["AuditPublisherFunction"]


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _stream_arn() -> str:
    table = boto3.client("dynamodb").describe_table(TableName=os.environ["TABLE_NAME"])["Table"]
    return table["LatestStreamArn"]


@pytest.fixture
def dead_letters(moto_endpoint) -> QueueDeadLetters:
    """Given a dead-letter queue of the test's own, made as make dev makes the template's."""
    client = boto3.client("sqs")
    return QueueDeadLetters(client, create_queue(client, f"dead-letters-{_uid()}"))


@pytest.fixture
def write_unreadable(moto_endpoint):
    """Writes, around the service, an audit item as `/team/update {"metadata": {"": 1}}` once
    wrote it (an empty map key in its values); removed again after the test."""
    client, keys = boto3.client("dynamodb"), []

    def write(object_id: str) -> None:
        key = {"PK": {"S": f"AUDIT#{object_id}"}, "SK": {"S": f"9999-odd#{uuid.uuid4()}"}}
        keys.append(key)
        client.put_item(TableName=os.environ["TABLE_NAME"], Item=key | {
            "entity": {"S": "audit"}, "id": {"S": str(uuid.uuid4())},
            "object_id": {"S": object_id}, "action": {"S": "updated"},
            "table_name": {"S": "LiteLLM_TeamTable"},
            "updated_at": {"S": "2026-01-01T00:00:00.000000Z"},
            "before_value": {"M": {"metadata": {"M": {}}}},
            "updated_values": {"M": {"metadata": {"M": {"": {"N": "1"}}}}}})

    yield write
    for key in keys:
        client.delete_item(TableName=os.environ["TABLE_NAME"], Key=key)


def _published(audit_queue, *object_ids: str) -> dict[str, list[str]]:
    """Per object, the actions of its records on the audit queue (the default carrier)."""
    found: dict[str, list[str]] = {object_id: [] for object_id in object_ids}
    for message in audit_queue.read_all():
        log = json.loads(message["Body"])
        if log["object_id"] in found:
            found[log["object_id"]].append(log["action"])
    return found


def _messages(queue: QueueDeadLetters) -> list[dict]:
    answer = queue.client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_the_stream_reader_hands_over_a_record_botocore_cannot_read(api, write_unreadable):
    # Given the table's stream from now on, and an odd record on it between two teams
    stream = TableStream(boto3.client("dynamodbstreams"), _stream_arn(), "LATEST")
    first, odd, second = f"odd-a-{_uid()}", f"odd-{_uid()}", f"odd-b-{_uid()}"
    api.new_team(team_id=first)
    write_unreadable(odd)
    api.new_team(team_id=second)
    # When it is read
    records = stream.read_all()
    # Then every record comes, the odd one as the stream holds it, in Lambda's shape
    partitions = [r["dynamodb"]["Keys"]["PK"]["S"] for r in records]
    assert f"AUDIT#{odd}" in partitions
    assert partitions.index(f"AUDIT#{first}") < partitions.index(f"AUDIT#{odd}") \
        < partitions.index(f"AUDIT#{second}")
    assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], int) for r in records)
    assert {r["eventSource"] for r in records} == {"aws:dynamodb"}


def test_a_record_that_cannot_be_published_goes_to_the_dead_letter_queue_and_the_rest_flows(
        api, audit_queue, write_unreadable, dead_letters, caplog):
    # Given make dev's poller of the audit publisher on the table's stream from now on, giving
    # up after one retry, with its dead-letter queue, and a team whose odd record sits between
    # its creation and its block, beside another team
    poller = retrying_poller(PUBLISHER, dead_letters=dead_letters)
    team_id, other = stuck_change(api, write_unreadable, "dlq")

    # When it polls: the delivery, one retry from the odd record, then the give-up
    with caplog.at_level("INFO", logger="teamledger.devserver"):
        for _ in range(3):
            poller.poll_once()

    # Then what could go went, in order; the odd record (and the block behind it, order over
    # availability) went to the dead-letter queue, as Lambda's on-failure message
    assert _published(audit_queue, team_id, other) == {team_id: ["created"],
                                                       other: ["created"]}
    (message,) = _messages(dead_letters)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["requestContext"]["functionArn"].endswith(":AuditPublisherFunction")
    # (the batch of the last retry: from the odd record to the batch's end, which holds the
    # other team's records too, published at each attempt)
    info, records = message["DDBStreamBatchInfo"], message["records"]
    assert info["streamArn"] == _stream_arn() and info["batchSize"] == len(records)
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (
        records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"])
    partitions = [r["dynamodb"]["Keys"]["PK"]["S"] for r in records]
    assert partitions[:2] == [f"AUDIT#{team_id}"] * 2
    assert records[0]["dynamodb"]["NewImage"]["action"] == {"S": "updated"}
    assert records[1]["dynamodb"]["NewImage"]["action"] == {"S": "blocked"}
    assert set(partitions[2:]) <= {f"AUDIT#{other}", f"AUDIT#{other}:default_user_id"}
    assert "gave up on records" in caplog.text and "dead-letter" in caplog.text
    assert "stream poll failed" not in caplog.text

    # When the team changes again
    api.ok(api.post("/team/unblock", {"team_id": team_id}))
    poller.poll_once()

    # Then that change flows on to the audit queue
    assert _published(audit_queue, team_id) == {team_id: ["created", "unblocked"]}
    assert not [r for r in poller.stream.read_all() if passes(PUBLISHER.filters, r)]


def test_a_poller_whose_filter_drops_the_record_is_not_held_up_by_it(api, write_unreadable):
    # Given the spend order's poller (its filter passes team counters only) from now on
    consumer = dataclasses.replace(CONSUMERS["SpendOrderFunction"], starting_position="LATEST")
    poller = StreamPoller(consumer, boto3.client("dynamodbstreams"), _stream_arn(),
                          threading.Lock())
    # When an odd record and a team's first spend come
    write_unreadable(f"odd-{_uid()}")
    team = api.new_team()
    key = api.new_key(team_id=team["team_id"])
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 2.5}))
    # Then its polls go past both: the team's place in the spend order is its spend
    from teamledger.store import keys as table_keys
    from teamledger.store.marshal import to_item

    while poller.poll_once():
        pass
    place = boto3.client("dynamodb").get_item(
        TableName=os.environ["TABLE_NAME"], ConsistentRead=True,
        Key=to_item(table_keys.spend_order_item(team["team_id"])))["Item"]
    assert place["spend"] == {"N": "25000000000"}
