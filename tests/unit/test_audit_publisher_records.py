"""What the audit publisher makes of a stream record, without any network: the AuditLog of an
audit image, the poison records it refuses (saying why without their content), and the
Kinesis partition key of an object."""

import pytest
from teamledger.store.marshal import to_item
from teamledger.stream.audit_publisher import Unpublishable, audit_log, partition_key

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
