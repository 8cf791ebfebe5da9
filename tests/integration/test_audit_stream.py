"""The audit publisher fed what the table's stream really holds (read from moto's stream, in the
event shape Lambda sends, through the template's FilterCriteria): every audit record reaches the
Kinesis audit stream once, partition key object_id, in commit order per object; a poison record
fails alone; a record never overtakes a failed earlier record of its object."""

import copy
import json
import os
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from teamledger.stream import audit_publisher

from tests.support.apigw import lambda_context
from tests.support.audittail import KinesisTail
from tests.support.client import MASTER_KEY
from tests.support.streams import TableStream, passes
from tests.support.template import load_template, stream_consumers

PUBLISHER = next(c for c in stream_consumers(load_template())
                 if c.function == "AuditPublisherFunction")


@pytest.fixture
def table_stream(moto_endpoint, audit_stream) -> TableStream:
    """Given the table's stream, read from now on (what earlier tests wrote is behind us)."""
    table = boto3.client("dynamodb").describe_table(TableName=os.environ["TABLE_NAME"])["Table"]
    return TableStream(boto3.client("dynamodbstreams"), table["LatestStreamArn"], "LATEST")


def stream_event(table_stream: TableStream) -> dict:
    """The event Lambda sends: the stream's new records that pass the mapping's filter."""
    return {"Records": [r for r in table_stream.read_all() if passes(PUBLISHER.filters, r)]}


def publish(event: dict) -> list[str]:
    """Invoke the publisher; the sequence numbers it reports failed."""
    from functions.audit_publisher.app import lambda_handler

    response = lambda_handler(copy.deepcopy(event), lambda_context(PUBLISHER.function))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def on_kinesis(audit_stream: str, *object_ids: str) -> dict[str, list[dict]]:
    """Per object, its records on the audit stream in stream order, each as
    {"partition_key", "log"}."""
    found: dict[str, list[dict]] = {object_id: [] for object_id in object_ids}
    for record in KinesisTail(boto3.client("kinesis"), audit_stream).read_all():
        log = json.loads(record["Data"])
        if log["object_id"] in found:
            found[log["object_id"]].append({"partition_key": record["PartitionKey"], "log": log})
    return found


def audit_log(api, object_id: str) -> list[dict]:
    """GET /audit's records of the object, oldest first."""
    body = api.ok(api.get("/audit", query={"object_id": object_id, "limit": "100"}))
    return list(reversed(body["data"]))


def sequence_numbers(event: dict, object_id: str) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in event["Records"]
            if r["dynamodb"]["Keys"]["PK"]["S"] == f"AUDIT#{object_id}"]


@pytest.fixture
def write_poison(moto_endpoint):
    """Writes, around the service, an audit item no AuditLog can be made of (no id, values
    that are no object) into an object's partition; removed again after the test."""
    client, keys = boto3.client("dynamodb"), []

    def write(object_id: str) -> None:
        key = {"PK": {"S": f"AUDIT#{object_id}"}, "SK": {"S": f"9999-poison#{uuid.uuid4()}"}}
        keys.append(key)
        client.put_item(TableName=os.environ["TABLE_NAME"], Item=key | {
            "entity": {"S": "audit"}, "object_id": {"S": object_id},
            "action": {"S": "created"}, "updated_values": {"S": "not an object"}})

    yield write
    for key in keys:
        client.delete_item(TableName=os.environ["TABLE_NAME"], Key=key)


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def test_every_record_reaches_kinesis_once_in_commit_order_per_object(api, table_stream,
                                                                      audit_stream):
    # Given two teams changed in interleaved order
    first, second = f"stream-a-{_uid()}", f"stream-b-{_uid()}"
    api.new_team(team_id=first)
    api.new_team(team_id=second)
    api.ok(api.post("/team/update", {"team_id": first, "max_budget": 5},
                    headers={"litellm-changed-by": "alice"}))
    api.ok(api.post("/team/block", {"team_id": second}))
    api.ok(api.post("/team/unblock", {"team_id": second}))
    api.ok(api.post("/team/model/add", {"team_id": first, "models": ["gpt-4o"]}))
    event = stream_event(table_stream)
    # (the filter lets audit INSERTs through only: not the teams, members or counters)
    assert event["Records"]
    assert {r["dynamodb"]["NewImage"]["entity"]["S"] for r in event["Records"]} == {"audit"}

    # When the batch goes through the publisher
    failed = publish(event)

    # Then nothing failed, and each team's records are on the stream once, oldest first, with
    # the team as partition key and exactly the AuditLog GET /audit shows
    assert failed == []
    published = on_kinesis(audit_stream, first, second)
    for team_id, actions in ((first, ["created", "updated", "updated"]),
                             (second, ["created", "blocked", "unblocked"])):
        assert [p["log"] for p in published[team_id]] == audit_log(api, team_id)
        assert [p["log"]["action"] for p in published[team_id]] == actions
        assert {p["partition_key"] for p in published[team_id]} == {team_id}
    assert published[first][1]["log"]["changed_by"] == "alice"
    # Only the AuditLog's fields, and a token, never the raw master key
    assert set(published[first][0]["log"]) == {
        "id", "updated_at", "changed_by", "changed_by_api_key", "action", "table_name",
        "object_id", "before_value", "updated_values"}
    assert MASTER_KEY not in json.dumps(published)


def test_replaying_a_batch_publishes_nothing_twice(api, table_stream, audit_stream):
    # Given a batch that was published
    team_id = f"stream-replay-{_uid()}"
    api.new_team(team_id=team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    event = stream_event(table_stream)
    assert publish(event) == []

    # When Lambda delivers the same batch again
    failed = publish(event)

    # Then it succeeds and the stream still holds each record once
    assert failed == []
    ids = [p["log"]["id"] for p in on_kinesis(audit_stream, team_id)[team_id]]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_a_poison_record_fails_alone_and_the_others_are_published(api, table_stream,
                                                                  audit_stream, write_poison):
    # Given a batch with a record that cannot become an AuditLog between two good ones
    first, poisoned, second = f"stream-a-{_uid()}", f"poison-{_uid()}", f"stream-b-{_uid()}"
    api.new_team(team_id=first)
    write_poison(poisoned)
    api.new_team(team_id=second)
    event = stream_event(table_stream)

    # When the batch goes through the publisher
    failed = publish(event)

    # Then only the poison record is reported, and both teams' records reached the stream
    assert failed == sequence_numbers(event, poisoned)
    assert len(failed) == 1
    published = on_kinesis(audit_stream, first, second, poisoned)
    assert [p["log"]["action"] for p in published[first]] == ["created"]
    assert [p["log"]["action"] for p in published[second]] == ["created"]
    assert published[poisoned] == []

    # And Lambda's retry (from the failed record on) fails it again, duplicating nothing
    retry = {"Records": event["Records"][event["Records"].index(
        next(r for r in event["Records"] if r["dynamodb"]["SequenceNumber"] == failed[0])):]}
    assert publish(retry) == failed
    published = on_kinesis(audit_stream, first, second)
    assert (len(published[first]), len(published[second])) == (1, 1)


def test_a_poison_record_holds_back_the_later_records_of_its_object(api, table_stream,
                                                                    audit_stream, write_poison):
    # Given a poison record in a team's partition between the team's creation and its update
    team_id, other = f"stream-held-{_uid()}", f"stream-other-{_uid()}"
    api.new_team(team_id=team_id)
    write_poison(team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    api.new_team(team_id=other)
    event = stream_event(table_stream)
    created, poison, blocked = sequence_numbers(event, team_id)

    # When the batch goes through the publisher
    failed = publish(event)

    # Then the block waits behind the poison record; the creation and the other team went
    assert failed == [poison, blocked]
    published = on_kinesis(audit_stream, team_id, other)
    assert [p["log"]["action"] for p in published[team_id]] == ["created"]
    assert [p["log"]["action"] for p in published[other]] == ["created"]


def test_a_record_never_overtakes_a_failed_earlier_record_of_its_object(
        api, table_stream, audit_stream, monkeypatch):
    # Given two teams' changes, and Kinesis refusing the first put of one team once
    team_id, other = f"stream-late-{_uid()}", f"stream-on-time-{_uid()}"
    api.new_team(team_id=team_id)
    api.new_team(team_id=other)
    api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": 7}))
    api.ok(api.post("/team/block", {"team_id": other}))
    event = stream_event(table_stream)
    client = audit_publisher.kinesis()
    real_put = client.put_record
    refused: list[str] = []

    def put_record(**request):
        if request["PartitionKey"] == team_id and not refused:
            refused.append(request["PartitionKey"])
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "slow down"}}, "PutRecord")
        return real_put(**request)

    monkeypatch.setattr(client, "put_record", put_record)

    # When the batch goes through the publisher
    failed = publish(event)

    # Then both of the team's records fail (the update may not overtake the creation), and the
    # other team's records are published
    assert failed == sequence_numbers(event, team_id)
    published = on_kinesis(audit_stream, team_id, other)
    assert published[team_id] == []
    assert [p["log"]["action"] for p in published[other]] == ["created", "blocked"]

    # When Lambda retries from the first failed record, as ReportBatchItemFailures makes it
    first_failed = next(i for i, r in enumerate(event["Records"])
                        if r["dynamodb"]["SequenceNumber"] == failed[0])
    assert publish({"Records": event["Records"][first_failed:]}) == []

    # Then the team's records are on the stream in commit order, and nothing went twice
    published = on_kinesis(audit_stream, team_id, other)
    assert [p["log"]["action"] for p in published[team_id]] == ["created", "updated"]
    assert [p["log"]["action"] for p in published[other]] == ["created", "blocked"]


def test_make_devs_poller_retries_from_the_failed_record_then_gives_up_as_lambda_does(
        api, audit_stream, write_poison, caplog):
    # Given make dev's poller on the table's stream from now on, giving up after one retry,
    # and a team whose second change sits behind a poison record of its own
    from tests.support.stuckstream import retrying_poller, stuck_change

    poller = retrying_poller(PUBLISHER)
    team_id, other = stuck_change(api, write_poison, "poller")

    # When it polls: the first delivery, the retry from the poison record, then nothing left
    with caplog.at_level("INFO", logger="teamledger.devserver"):
        for _ in range(3):
            poller.poll_once()

    # Then what could go went once, in order; the block stayed behind the poison and was given
    # up with it (in AWS: the batch's range to the dead-letter queue)
    published = on_kinesis(audit_stream, team_id, other)
    assert [p["log"]["action"] for p in published[team_id]] == ["created"]
    assert [p["log"]["action"] for p in published[other]] == ["created"]
    deliveries = [r.getMessage() for r in caplog.records if " records, " in r.getMessage()]
    assert len(deliveries) == 2 and all(", 2 failed" in d for d in deliveries)
    assert "gave up on records" in caplog.text
    assert poller.stream.read_all() == []  # the poller moved past the batch
