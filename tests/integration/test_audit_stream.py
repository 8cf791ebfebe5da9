"""The audit publisher fed what the table's stream really holds (read from moto's stream, in the
event shape Lambda sends, through the template's FilterCriteria), on both carriers over moto's
HTTP: every audit record reaches the SQS FIFO queue (the default) once, message group = its
object, deduplication id = its `id`, in commit order per object, in batches of at most 10; or,
with AUDIT_CARRIER=kinesis, the Kinesis stream with partition key object_id. A poison record
fails alone; a record never overtakes a failed earlier record of its object, and what failed
goes on Lambda's retry, so nothing is lost and nothing is sent twice."""

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
from tests.support.template import configured, load_template, stream_consumers

PUBLISHER = next(c for c in stream_consumers(load_template())
                 if c.function == "AuditPublisherFunction")
# The IAM action of each carrier operation (SendMessageBatch is authorized as SendMessage).
IAM_ACTIONS = {"SendMessageBatch": "sqs:SendMessage", "PutRecord": "kinesis:PutRecord"}


@pytest.fixture
def table_stream(moto_endpoint) -> TableStream:
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


def retry_from(event: dict, failed: list[str]) -> dict:
    """Lambda's next delivery after ReportBatchItemFailures: from the first failed record on."""
    first = next(i for i, r in enumerate(event["Records"])
                 if r["dynamodb"]["SequenceNumber"] == failed[0])
    return {"Records": event["Records"][first:]}


def on_queue(audit_queue, *object_ids: str) -> dict[str, list[dict]]:
    """Per object, its messages on the audit queue in the order a consumer got them, each as
    {"group", "deduplication_id", "log"}."""
    found: dict[str, list[dict]] = {object_id: [] for object_id in object_ids}
    for message in audit_queue.read_all():
        log = json.loads(message["Body"])
        if log["object_id"] in found:
            found[log["object_id"]].append({
                "group": message["Attributes"]["MessageGroupId"],
                "deduplication_id": message["Attributes"]["MessageDeduplicationId"],
                "log": log})
    return found


def on_kinesis(audit_stream: str, *object_ids: str) -> dict[str, list[dict]]:
    """Per object, its records on the audit stream in stream order, each as
    {"partition_key", "log"}."""
    found: dict[str, list[dict]] = {object_id: [] for object_id in object_ids}
    for record in KinesisTail(boto3.client("kinesis"), audit_stream).read_all():
        log = json.loads(record["Data"])
        if log["object_id"] in found:
            found[log["object_id"]].append({"partition_key": record["PartitionKey"], "log": log})
    return found


def actions(published: dict[str, list[dict]], object_id: str) -> list[str]:
    return [p["log"]["action"] for p in published[object_id]]


def audit_log(api, object_id: str) -> list[dict]:
    """GET /audit's records of the object, oldest first."""
    body = api.ok(api.get("/audit", query={"object_id": object_id, "limit": "100"}))
    return list(reversed(body["data"]))


def sequence_numbers(event: dict, object_id: str) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in event["Records"]
            if r["dynamodb"]["Keys"]["PK"]["S"] == f"AUDIT#{object_id}"]


@pytest.fixture
def carrier_calls():
    """Records each call the publisher makes to its carrier (operation, request) through a
    botocore hook on its clients, the way AWS sees them."""
    calls: list[tuple[str, dict]] = []

    def record(model, params, **_):
        calls.append((model.name, params))

    clients = (audit_publisher.sqs(), audit_publisher.kinesis())
    for client in clients:
        client.meta.events.register("provide-client-params.*.*", record)
    yield calls
    for client in clients:
        client.meta.events.unregister("provide-client-params.*.*", record)


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


def _late_and_on_time_teams(api) -> tuple[str, str]:
    """Two new teams, each changed once more (updated; blocked): the first is the one whose
    record the carrier will refuse."""
    team_id, other = f"stream-late-{_uid()}", f"stream-on-time-{_uid()}"
    api.new_team(team_id=team_id)
    api.new_team(team_id=other)
    api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": 7}))
    api.ok(api.post("/team/block", {"team_id": other}))
    return team_id, other


def _interleaved_changes(api) -> tuple[str, str]:
    """Two teams changed in interleaved order: (3 records of the first, 3 of the second)."""
    first, second = f"stream-a-{_uid()}", f"stream-b-{_uid()}"
    api.new_team(team_id=first)
    api.new_team(team_id=second)
    api.ok(api.post("/team/update", {"team_id": first, "max_budget": 5},
                    headers={"litellm-changed-by": "alice"}))
    api.ok(api.post("/team/block", {"team_id": second}))
    api.ok(api.post("/team/unblock", {"team_id": second}))
    api.ok(api.post("/team/model/add", {"team_id": first, "models": ["gpt-4o"]}))
    return first, second


def test_every_record_reaches_the_queue_once_in_commit_order_per_object(api, table_stream,
                                                                        audit_queue):
    # Given two teams changed in interleaved order
    first, second = _interleaved_changes(api)
    event = stream_event(table_stream)
    # (the filter lets audit INSERTs through only: not the teams, members or counters)
    assert event["Records"]
    assert {r["dynamodb"]["NewImage"]["entity"]["S"] for r in event["Records"]} == {"audit"}

    # When the batch goes through the publisher
    failed = publish(event)

    # Then nothing failed, and a consumer gets each team's records once, oldest first, in the
    # team's message group, deduplicated by the record's id, exactly the AuditLog GET /audit shows
    assert failed == []
    published = on_queue(audit_queue, first, second)
    for team_id, expected in ((first, ["created", "updated", "updated"]),
                              (second, ["created", "blocked", "unblocked"])):
        assert [p["log"] for p in published[team_id]] == audit_log(api, team_id)
        assert actions(published, team_id) == expected
        assert {p["group"] for p in published[team_id]} == {team_id}
        assert [p["deduplication_id"] for p in published[team_id]] == [
            p["log"]["id"] for p in published[team_id]]
    assert published[first][1]["log"]["changed_by"] == "alice"
    # Only the AuditLog's fields, and a token, never the raw master key
    assert set(published[first][0]["log"]) == {
        "id", "updated_at", "changed_by", "changed_by_api_key", "action", "table_name",
        "object_id", "before_value", "updated_values"}
    assert MASTER_KEY not in json.dumps(published)


def test_a_batch_goes_in_sends_of_ten_at_most_and_one_record_per_object_each(
        api, table_stream, audit_queue, carrier_calls):
    # Given one team changed 12 times and 11 other teams made (with their members), all in
    # one batch
    busy, others = f"stream-busy-{_uid()}", [f"stream-one-{_uid()}" for _ in range(11)]
    api.new_team(team_id=busy)
    for n in range(11):
        api.ok(api.post("/team/update", {"team_id": busy, "max_budget": n + 1}))
        api.new_team(team_id=others[n])
    event = stream_event(table_stream)
    assert len(event["Records"]) > 23

    # When the batch goes through the publisher
    assert publish(event) == []

    # Then each send is one SendMessageBatch of at most 10 messages of distinct objects (so a
    # refused message can never be overtaken by a later one of its object in the same send)
    sends = [request["Entries"] for operation, request in carrier_calls]
    assert {operation for operation, _ in carrier_calls} == {"SendMessageBatch"}
    assert all(len(entries) <= 10 for entries in sends)
    assert all(len({e["MessageGroupId"] for e in entries}) == len(entries) for entries in sends)
    assert sum(len(entries) for entries in sends) == len(event["Records"])
    # And a consumer gets the busy team's 12 records in commit order, and every other team's
    published = on_queue(audit_queue, busy, *others)
    assert actions(published, busy) == ["created"] + ["updated"] * 11
    assert [p["log"]["updated_values"]["max_budget"] for p in published[busy][1:]] == [
        float(n + 1) for n in range(11)]
    assert all(actions(published, team) == ["created"] for team in others)


def test_replaying_a_batch_publishes_nothing_twice(api, table_stream, audit_queue,
                                                   carrier_calls):
    # Given a batch that was published
    team_id = f"stream-replay-{_uid()}"
    api.new_team(team_id=team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    event = stream_event(table_stream)
    assert publish(event) == []
    sent = len(carrier_calls)

    # When Lambda delivers the same batch again
    failed = publish(event)

    # Then it succeeds without sending anything (its markers), and the queue had each once
    assert failed == []
    assert len(carrier_calls) == sent
    ids = [p["log"]["id"] for p in on_queue(audit_queue, team_id)[team_id]]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_a_record_sent_again_without_its_marker_is_dropped_by_the_queue(
        api, table_stream, audit_queue, carrier_calls, monkeypatch):
    # Given a batch published while the markers could not be written (as after a crash
    # between the send and the marker)
    team_id = f"stream-unmarked-{_uid()}"
    api.new_team(team_id=team_id)
    event = stream_event(table_stream)
    from teamledger.store import stores

    monkeypatch.setattr(type(stores().audit), "mark_published", _refuse_marker)
    assert publish(event) == []

    # When Lambda delivers it again within SQS's 5-minute deduplication window
    assert publish(event) == []

    # Then it was sent twice with the same deduplication id, and a consumer gets it once
    sent = [e for _, request in carrier_calls for e in request["Entries"]
            if e["MessageGroupId"] == team_id]
    assert len(sent) == 2 and sent[0]["MessageDeduplicationId"] == sent[1][
        "MessageDeduplicationId"]
    assert actions(on_queue(audit_queue, team_id), team_id) == ["created"]


def _refuse_marker(*_args, **_kwargs):
    raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "PutItem")


def test_a_poison_record_fails_alone_and_the_others_are_published(api, table_stream,
                                                                  audit_queue, write_poison):
    # Given a batch with a record that cannot become an AuditLog between two good ones
    first, poisoned, second = f"stream-a-{_uid()}", f"poison-{_uid()}", f"stream-b-{_uid()}"
    api.new_team(team_id=first)
    write_poison(poisoned)
    api.new_team(team_id=second)
    event = stream_event(table_stream)

    # When the batch goes through the publisher
    failed = publish(event)

    # Then only the poison record is reported, and both teams' records reached the queue
    assert failed == sequence_numbers(event, poisoned)
    assert len(failed) == 1
    published = on_queue(audit_queue, first, second, poisoned)
    assert actions(published, first) == ["created"]
    assert actions(published, second) == ["created"]
    assert published[poisoned] == []

    # And Lambda's retry (from the failed record on) fails it again, duplicating nothing
    assert publish(retry_from(event, failed)) == failed
    published = on_queue(audit_queue, first, second)
    assert (len(published[first]), len(published[second])) == (1, 1)


def test_a_poison_record_holds_back_the_later_records_of_its_object(api, table_stream,
                                                                    audit_queue, write_poison):
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
    published = on_queue(audit_queue, team_id, other)
    assert actions(published, team_id) == ["created"]
    assert actions(published, other) == ["created"]


def test_a_message_the_queue_refuses_fails_with_its_objects_later_records_and_goes_on_retry(
        api, table_stream, audit_queue, monkeypatch):
    # Given two teams' changes, and SQS refusing the first message of one team once (a
    # SendMessageBatch answered with that entry in Failed, the rest sent)
    team_id, other = _late_and_on_time_teams(api)
    event = stream_event(table_stream)
    client = audit_publisher.sqs()
    real_send = client.send_message_batch
    refused: list[str] = []

    def send_message_batch(**request):
        mine = [e for e in request["Entries"] if e["MessageGroupId"] == team_id]
        if not mine or refused:
            return real_send(**request)
        refused.append(mine[0]["Id"])
        rest = [e for e in request["Entries"] if e is not mine[0]]
        answer = real_send(**(request | {"Entries": rest})) if rest else {"Successful": []}
        return answer | {"Failed": [{"Id": mine[0]["Id"], "SenderFault": False,
                                     "Code": "InternalError", "Message": "try again"}]}

    monkeypatch.setattr(client, "send_message_batch", send_message_batch)

    # When the batch goes through the publisher
    failed = publish(event)

    # Then both of the team's records fail (the update may not overtake the creation), and the
    # other team's records are published
    assert refused and failed == sequence_numbers(event, team_id)
    published = on_queue(audit_queue, team_id, other)
    assert published[team_id] == []
    assert actions(published, other) == ["created", "blocked"]

    # When Lambda retries from the first failed record, as ReportBatchItemFailures makes it
    assert publish(retry_from(event, failed)) == []

    # Then the team's records come in commit order, and nothing came twice
    published = on_queue(audit_queue, team_id, other)
    assert actions(published, team_id) == ["created", "updated"]
    assert actions(published, other) == ["created", "blocked"]


def test_a_send_that_fails_whole_fails_its_records_and_the_retry_loses_none(
        api, table_stream, audit_queue, monkeypatch):
    # Given a team's changes and SQS unreachable for the first send
    team_id = f"stream-down-{_uid()}"
    api.new_team(team_id=team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    event = stream_event(table_stream)
    client = audit_publisher.sqs()
    real_send = client.send_message_batch
    calls: list[int] = []

    def send_message_batch(**request):
        calls.append(len(request["Entries"]))
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}},
                              "SendMessageBatch")
        return real_send(**request)

    monkeypatch.setattr(client, "send_message_batch", send_message_batch)

    # When the batch goes through the publisher, then Lambda retries what failed
    failed = publish(event)
    assert publish(retry_from(event, failed)) == []

    # Then the first send's records failed (the team's later one held back behind them), and
    # a consumer gets both of the team's records once, in commit order
    assert failed == [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
    assert calls[0] > 1
    assert actions(on_queue(audit_queue, team_id), team_id) == ["created", "blocked"]


def test_an_object_id_sqs_would_refuse_as_a_group_is_grouped_by_its_digest(
        api, table_stream, audit_queue):
    # Given a team whose id is longer than a MessageGroupId may be (128 characters)
    team_id = f"stream-long-{_uid()}-" + "x" * 200
    api.new_team(team_id=team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    event = stream_event(table_stream)

    # When the batch goes through the publisher
    assert publish(event) == []

    # Then both records are in one group, the id's sha256, in commit order
    published = on_queue(audit_queue, team_id)
    assert actions(published, team_id) == ["created", "blocked"]
    assert {p["group"] for p in published[team_id]} == {
        audit_publisher.message_group(team_id)}
    assert len(published[team_id][0]["group"]) == 64


def test_make_devs_poller_retries_from_the_failed_record_then_gives_up_as_lambda_does(
        api, audit_queue, write_poison, caplog):
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
    published = on_queue(audit_queue, team_id, other)
    assert actions(published, team_id) == ["created"]
    assert actions(published, other) == ["created"]
    deliveries = [r.getMessage() for r in caplog.records if " records, " in r.getMessage()]
    assert len(deliveries) == 2 and all(", 2 failed" in d for d in deliveries)
    assert "gave up on records" in caplog.text
    assert poller.stream.read_all() == []  # the poller moved past the batch


# The Kinesis option (AuditCarrier kinesis): the same publisher, PutRecord per record.

def test_on_kinesis_every_record_goes_once_in_commit_order_per_object(
        api, table_stream, kinesis_carrier, audit_queue, carrier_calls):
    # Given two teams changed in interleaved order, and the publisher on the Kinesis option
    first, second = _interleaved_changes(api)
    event = stream_event(table_stream)

    # When the batch goes through the publisher, twice (Lambda's replay)
    assert publish(event) == []
    assert publish(event) == []

    # Then each team's records are on the stream once, oldest first, partition key the team,
    # exactly the AuditLog GET /audit shows; nothing went to the queue
    published = on_kinesis(kinesis_carrier, first, second)
    for team_id, expected in ((first, ["created", "updated", "updated"]),
                              (second, ["created", "blocked", "unblocked"])):
        assert [p["log"] for p in published[team_id]] == audit_log(api, team_id)
        assert actions(published, team_id) == expected
        assert {p["partition_key"] for p in published[team_id]} == {team_id}
    assert {operation for operation, _ in carrier_calls} == {"PutRecord"}
    assert on_queue(audit_queue, first, second) == {first: [], second: []}


def test_on_kinesis_a_record_never_overtakes_a_failed_earlier_record_of_its_object(
        api, table_stream, kinesis_carrier, monkeypatch):
    # Given two teams' changes, and Kinesis refusing the first put of one team once
    team_id, other = _late_and_on_time_teams(api)
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
    published = on_kinesis(kinesis_carrier, team_id, other)
    assert published[team_id] == []
    assert actions(published, other) == ["created", "blocked"]

    # When Lambda retries from the first failed record, as ReportBatchItemFailures makes it
    assert publish(retry_from(event, failed)) == []

    # Then the team's records are on the stream in commit order, and nothing went twice
    published = on_kinesis(kinesis_carrier, team_id, other)
    assert actions(published, team_id) == ["created", "updated"]
    assert actions(published, other) == ["created", "blocked"]


@pytest.mark.parametrize("carrier", ["sqs-fifo", "kinesis"])
def test_the_publisher_calls_exactly_what_its_carriers_policy_grants(
        api, table_stream, audit_stream, carrier, carrier_calls, monkeypatch):
    # Given the publisher on this carrier, and a batch to publish
    from teamledger.config import settings

    monkeypatch.setenv("AUDIT_CARRIER", carrier)
    settings.cache_clear()
    team_id = f"stream-iam-{_uid()}"
    api.new_team(team_id=team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    try:
        assert publish(stream_event(table_stream)) == []
    finally:
        monkeypatch.undo()
        settings.cache_clear()

    # Then its carrier calls are exactly the non-DynamoDB actions template.yaml grants it
    # with that carrier (no customer managed key: KMS is SQS's and Kinesis' business then)
    props = configured(load_template(), AuditCarrier=carrier)["Resources"][
        "AuditPublisherFunction"]["Properties"]
    granted = {action for policy in props["Policies"] for statement in policy["Statement"]
               for action in ([statement["Action"]] if isinstance(statement["Action"], str)
                              else statement["Action"]) if not action.startswith("dynamodb:")}
    assert {IAM_ACTIONS[operation] for operation, _ in carrier_calls} == granted
