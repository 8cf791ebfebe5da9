"""One odd record must not stop `make dev`'s audit stream (issue 13, defect 7).

`/team/update` with `{"metadata": {"": 1}}` once answered 200 and left an audit record that the
dev server's stream poller failed to read at every poll: no later change ever reached
`make audit-tail`. Such a body is a 422 now (DynamoDB refuses an empty attribute name), and a
record that cannot be published, whatever put it there, goes the way it goes in AWS: the
publisher fails it, the poller retries it MaximumRetryAttempts times, then sends Lambda's
on-failure message to the template's dead-letter queue (an SQS queue on the dev server's moto)
and moves on. Changes of other objects flow meanwhile; the odd record's object flows again once
it is dead-lettered."""

import json
import time
import uuid

import boto3
import pytest

from tests.support import devstate
from tests.support.audittail import body, dev_tail
from tests.support.devhttp import call

GIVE_UP_TIMEOUT_S = 120  # 10 retries with the poller's backoff: about 30 s
FLOW_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def aws(dev_server):
    """Clients of the dev server's own moto (where its state file says it is), and one tail of
    its audit carrier for the module (a queue's consumer takes each record once) with what it
    has read."""
    state = devstate.read(int(dev_server.url.rsplit(":", 1)[1]))
    assert state is not None

    def client(service: str):
        return boto3.client(service, endpoint_url=state.endpoint_url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    return {"state": state, "client": client, "tail": dev_tail(state, client), "read": []}


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _ok(server, method: str, path: str, body=None):
    status, answer = call(server, method, path, body)
    assert status == 200, (path, status, answer)
    return answer


def _write_odd_record(aws, object_id: str) -> str:
    """An audit record as `/team/update {"metadata": {"": 1}}` once wrote it, put straight into
    the dev server's table; its sort key."""
    sk = f"{time.strftime('%Y-%m-%dT%H:%M:%S')}.000000Z#{uuid.uuid4()}"
    aws["client"]("dynamodb").put_item(TableName=aws["state"].table_name, Item={
        "PK": {"S": f"AUDIT#{object_id}"}, "SK": {"S": sk}, "entity": {"S": "audit"},
        "id": {"S": str(uuid.uuid4())}, "object_id": {"S": object_id},
        "action": {"S": "updated"}, "table_name": {"S": "LiteLLM_TeamTable"},
        "updated_at": {"S": sk.split("#")[0]}, "before_value": {"M": {"metadata": {"M": {}}}},
        "updated_values": {"M": {"metadata": {"M": {"": {"N": "1"}}}}}})
    return sk


def _wait_for_published(aws, object_id: str, action: str) -> dict:
    """The object's record with `action` on the audit carrier, as `make audit-tail` reads it."""
    deadline = time.monotonic() + FLOW_TIMEOUT_S
    while time.monotonic() < deadline:
        aws["read"] += [json.loads(body(record)) for record in aws["tail"].poll()]
        for log in aws["read"]:
            if (log["object_id"], log["action"]) == (object_id, action):
                return log
        time.sleep(0.3)
    raise AssertionError(f"no {action} record of {object_id} on the audit carrier")


def _wait_for_dead_letter(aws, object_id: str, sk: str) -> dict:
    sqs = aws["client"]("sqs")
    url = sqs.get_queue_url(QueueName="AuditPublisherDeadLetterQueue")["QueueUrl"]
    deadline = time.monotonic() + GIVE_UP_TIMEOUT_S
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(message["Body"])
            keys = [r["dynamodb"]["Keys"] for r in body["records"]]
            if {"PK": {"S": f"AUDIT#{object_id}"}, "SK": {"S": sk}} in keys:
                return body
    raise AssertionError(f"the odd record of {object_id} never reached the dead-letter queue")


def test_an_empty_key_in_metadata_is_refused_and_writes_nothing(dev_server):
    team_id = _ok(dev_server, "POST", "/team/new", {"team_id": f"odd-{_uid()}"})["team_id"]
    status, answer = call(dev_server, "POST", "/team/update",
                          {"team_id": team_id, "metadata": {"": 1}})
    assert status == 422, answer
    assert answer["detail"][0]["loc"][:2] == ["body", "metadata"]
    page = _ok(dev_server, "GET", f"/audit?object_id={team_id}")
    assert [r["action"] for r in page["data"]] == ["created"]


def test_a_record_that_cannot_be_published_is_dead_lettered_and_the_stream_flows_on(
        dev_server, aws):
    # Given two teams, and an odd record in the first one's audit trail
    odd, other = f"odd-{_uid()}", f"flowing-{_uid()}"
    _ok(dev_server, "POST", "/team/new", {"team_id": odd})
    _ok(dev_server, "POST", "/team/new", {"team_id": other})
    sk = _write_odd_record(aws, odd)

    # When the other team changes
    _ok(dev_server, "POST", "/team/block", {"team_id": other})
    # Then its change reaches the audit stream while the odd record is being retried
    _wait_for_published(aws, other, "blocked")

    # And the odd record ends in the dead-letter queue, as Lambda's on-failure message
    message = _wait_for_dead_letter(aws, odd, sk)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 11  # 1 + 10 retries
    assert message["DDBStreamBatchInfo"]["batchSize"] == len(message["records"])
    # and the dev server's console says so (the line follows the message)
    deadline = time.monotonic() + 10
    while "gave up on records" not in dev_server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    gave_up = [line for line in dev_server.log().splitlines() if "gave up on records" in line]
    assert gave_up and "sent to the dead-letter queue" in gave_up[0], gave_up

    # And a later change of the odd record's own team flows on too
    _ok(dev_server, "POST", "/team/block", {"team_id": odd})
    published = _wait_for_published(aws, odd, "blocked")
    assert published["updated_values"]["blocked"] is True
