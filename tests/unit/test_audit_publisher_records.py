"""What the audit publisher makes of a stream record, without any network: the AuditLog of an
audit image, the poison records it refuses (saying why without their content), the Kinesis
partition key and the SQS message group of an object, the message body, and how a batch is
cut into sends (against a fake carrier and the fake stores)."""

import hashlib
import json

import pytest
from teamledger.store.marshal import to_item
from teamledger.stream.audit_publisher import (
    AuditBatch,
    HeldBack,
    Refused,
    Unpublishable,
    audit_log,
    message,
    message_group,
    partition_key,
)

SECRET_LOOKING = "sk-this-must-never-be-logged"


def stream_record(**fields) -> dict:
    image = {"PK": f"AUDIT#{fields.get('object_id')}", "SK": "2026-01-01T00:00:00.000000Z#x",
             "entity": "audit", "ttl": 1, "GSI8PK": "AUDITLOG"} | fields
    return {"eventName": "INSERT", "dynamodb": {"NewImage": to_item(image),
                                                "SequenceNumber": "1"}}


def valid_fields() -> dict:
    return {"id": "a1", "updated_at": "2026-01-01T00:00:00.000000Z", "changed_by": "alice",
            "changed_by_api_key": "f" * 64, "action": "updated",
            "table_name": "LiteLLM_TeamTable", "object_id": "team-1",
            "before_value": {"max_budget": None}, "updated_values": {"max_budget": 10.5}}


def test_an_audit_image_becomes_the_auditlog_of_api_md_only():
    log = audit_log(stream_record(**valid_fields()))

    # Then the AuditLog fields, with the image's values; keys, indexes, entity and ttl are gone
    assert log.model_dump() == valid_fields()


@pytest.mark.parametrize("broken", [
    {"id": None},  # no id
    {"action": 7},  # not a string
    {"updated_values": SECRET_LOOKING},  # not an object
    {"object_id": ""},  # no partition key
])
def test_an_image_that_is_no_auditlog_is_unpublishable_and_the_reason_holds_no_value(broken):
    with pytest.raises(Unpublishable) as raised:
        audit_log(stream_record(**(valid_fields() | broken)))

    assert SECRET_LOOKING not in str(raised.value)


def test_a_record_without_a_new_image_is_unpublishable():
    with pytest.raises(Unpublishable):
        audit_log({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1"}})


def test_an_image_with_a_type_no_auditlog_holds_is_unpublishable():
    record = stream_record(**valid_fields())
    record["dynamodb"]["NewImage"]["before_value"] = {"SS": ["a", "b"]}

    with pytest.raises(Unpublishable):
        audit_log(record)


def test_partition_key_is_the_object_id_or_its_digest_when_kinesis_would_refuse_it():
    membership = f"{'t' * 256}:{'u' * 256}"  # ids may be 256 characters each

    assert partition_key("team-1") == "team-1"
    assert partition_key("x" * 256) == "x" * 256
    assert len(partition_key(membership)) == 64
    assert partition_key(membership) == partition_key(membership)
    assert partition_key(membership) != partition_key(membership[:-1])


def test_message_group_is_the_object_id_or_its_digest_when_sqs_would_refuse_it():
    membership = f"{'t' * 64}:{'u' * 64}"  # 129 characters

    assert message_group("team-1") == "team-1"
    assert message_group("team:user@example.com") == "team:user@example.com"
    assert message_group("x" * 128) == "x" * 128
    for refused in (membership, "team one", "équipe"):  # too long, a space, not ASCII
        assert message_group(refused) == hashlib.sha256(refused.encode()).hexdigest()
    assert message_group(membership) != message_group(membership[:-1])


def test_the_message_is_the_auditlogs_json_with_what_sqs_refuses_escaped():
    fields = valid_fields() | {"updated_values": {"team_alias": "a\uffffb\ufffe"}}
    log = audit_log(stream_record(**fields))

    body = message(log)

    assert "\uffff" not in body and "\ufffe" not in body
    assert json.loads(body) == fields


class FakeCarrier:
    """Takes `max_entries` records a send; refuses the records whose object_id is in
    `refuse`, once each."""

    def __init__(self, max_entries: int, refuse: set[str] = frozenset()):
        self.max_entries = max_entries
        self.refuse = set(refuse)
        self.sends: list[list[str]] = []  # the action@object of each send's records

    def send(self, logs):
        self.sends.append([f"{log.action}@{log.object_id}" for log, _ in logs])
        outcomes = []
        for log, _ in logs:
            if log.object_id in self.refuse:
                self.refuse.discard(log.object_id)
                outcomes.append(Refused("SendMessageBatch", "InternalError"))
            else:
                outcomes.append(None)
        return outcomes


def batch_of(*changes: tuple[str, str]) -> tuple[AuditBatch, list[str]]:
    """A batch of (object, action) records in this order, and their sequence numbers."""
    records = []
    for n, (object_id, action) in enumerate(changes):
        record = stream_record(**(valid_fields() | {
            "id": f"id-{n}", "object_id": object_id, "action": action}))
        record["dynamodb"] |= {"SequenceNumber": str(100 + n),
                               "Keys": to_item({"PK": f"AUDIT#{object_id}", "SK": str(n)})}
        records.append(record)
    return AuditBatch.read(records), [str(100 + n) for n in range(len(changes))]


def test_a_send_holds_at_most_its_carriers_limit_and_one_record_per_object(fake):
    # Given 3 records of a, one each of b..l, interleaved
    changes = [("a", "created"), ("b", "created"), ("a", "updated"), *[
        (chr(c), "created") for c in range(ord("c"), ord("m"))], ("a", "deleted")]
    batch, _ = batch_of(*changes)
    carrier = FakeCarrier(max_entries=10)

    # When it is sent
    batch.send(carrier)

    # Then each send holds 10 records at most, no object twice, a's in commit order
    assert [len(send) for send in carrier.sends] == [10, 3, 1]
    assert all(len({r.split("@")[1] for r in send}) == len(send) for send in carrier.sends)
    a_records = [r for send in carrier.sends for r in send if r.endswith("@a")]
    assert a_records == ["created@a", "updated@a", "deleted@a"]
    assert batch.failures == {} and batch.counts["Published"] == len(changes)


def test_one_at_a_time_the_records_go_in_stream_order(fake):
    batch, _ = batch_of(("a", "created"), ("b", "created"), ("a", "updated"))
    carrier = FakeCarrier(max_entries=1)

    batch.send(carrier)

    assert carrier.sends == [["created@a"], ["created@b"], ["updated@a"]]


def test_a_refused_record_holds_back_its_objects_later_ones_and_no_other(fake):
    # Given a batch where the carrier refuses a's first record
    batch, numbers = batch_of(("a", "created"), ("b", "created"), ("a", "updated"),
                              ("b", "updated"))
    carrier = FakeCarrier(max_entries=10, refuse={"a"})

    # When it is sent
    batch.send(carrier)

    # Then a's records fail (the second never sent), b's went; nothing is marked for a
    assert set(batch.failures) == {numbers[0], numbers[2]}
    assert isinstance(batch.failures[numbers[0]], Refused)
    assert isinstance(batch.failures[numbers[2]], HeldBack)
    assert [r for send in carrier.sends for r in send] == [
        "created@a", "created@b", "updated@b"]
    assert fake.data.published == {"id-1", "id-3"}


def test_records_published_before_are_not_sent_again(fake):
    fake.data.published.add("id-0")
    batch, _ = batch_of(("a", "created"), ("a", "updated"))
    carrier = FakeCarrier(max_entries=10)

    batch.send(carrier)

    assert carrier.sends == [["updated@a"]]
    assert batch.counts == {"Published": 1, "AlreadyPublished": 1, "Failed": 0}
