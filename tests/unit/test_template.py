"""template.yaml: one function per handler, least-privilege policies, a table moto can build."""

from pathlib import Path

import pytest
from teamledger.store import keys as table_keys

from tests.support.streams import passes
from tests.support.template import (
    REPO_ROOT,
    load_template,
    routes,
    stream_consumers,
    table_definition,
)

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


@pytest.fixture(scope="module")
def template():
    return load_template()


def functions(template):
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def granted_actions(properties):
    actions = set()
    for policy in properties.get("Policies", []):
        if not isinstance(policy, dict):
            actions.add(policy)  # a managed policy by name
            continue
        for statement in policy.get("Statement", []):
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
        actions.update(name for name in policy if name != "Statement")  # SAM policy templates
    return actions


def test_every_handler_directory_has_exactly_one_function(template):
    # Given the handlers on disk and the functions of the template
    on_disk = sorted(path.parent.name for path in (REPO_ROOT / "functions").glob("*/app.py"))
    code_uris = [Path(props["CodeUri"]) for props in functions(template).values()]

    # Then each handler directory is deployed once, and nothing deployed is missing
    assert all(uri.parent.name == "functions" for uri in code_uris)
    assert sorted(uri.name for uri in code_uris) == on_disk


def test_read_only_routes_cannot_write_the_table(template):
    # Given the GET routes
    props = functions(template)
    readers = {route.function for route in routes(template) if route.method == "GET"}
    assert readers

    # Then none of them is granted a write, a wildcard or SAM's CRUD template
    for function in readers:
        actions = granted_actions(props[function])
        assert not actions & WRITE_ACTIONS, function
        assert not {"dynamodb:*", "DynamoDBCrudPolicy", "DynamoDBWritePolicy"} & actions, function


def test_health_has_no_permissions_at_all(template):
    assert granted_actions(functions(template)["HealthLivelinessFunction"]) == set()


def test_table_definition_has_four_indexes_and_a_stream(template):
    # When the create_table kwargs are built from the template
    definition = table_definition(template)

    # Then they carry the ten GSIs, each with PK/SK key names, and a stream with both images
    indexes = {gsi["IndexName"]: gsi for gsi in definition["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == sorted(f"GSI{n}" for n in range(1, 11))
    for name, gsi in indexes.items():
        assert [key["AttributeName"] for key in gsi["KeySchema"]] == [f"{name}PK", f"{name}SK"]
    assert definition["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert definition["BillingMode"] == "PAY_PER_REQUEST"


# --- the audit stream (issue 4) --------------------------------------------------------------

def test_audit_publisher_reads_the_table_stream_with_partial_batch_failures(template):
    # Given the publisher's event source
    (source,) = functions(template)["AuditPublisherFunction"]["Events"].values()
    props = source["Properties"]

    # Then it reads the table's stream from the oldest record, reports failed records one by
    # one, bisects a crashing batch, gives up after bounded retries into a queue of the template
    assert source["Type"] == "DynamoDB"
    assert props["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 <= props["MaximumRetryAttempts"] <= 100
    destination = props["DestinationConfig"]["OnFailure"]
    assert destination["Type"] == "SQS"
    queue = destination["Destination"]["Fn::GetAtt"][0]
    assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue"


def _consumer(template, function: str):
    return next(c for c in stream_consumers(template) if c.function == function)


def test_audit_publisher_filter_lets_through_audit_inserts_only(template):
    consumer = _consumer(template, "AuditPublisherFunction")

    def record(event_name, entity):
        return {"eventName": event_name, "dynamodb": {"NewImage": {"entity": {"S": entity}}}}

    assert passes(consumer.filters, record("INSERT", "audit"))
    assert not passes(consumer.filters, record("REMOVE", "audit"))  # its TTL expiry
    assert not passes(consumer.filters, record("MODIFY", "audit"))
    assert not passes(consumer.filters, record("INSERT", "audit_published"))  # its own markers
    assert not passes(consumer.filters, record("INSERT", "team"))
    assert not passes(consumer.filters, {"eventName": "INSERT", "dynamodb": {}})


def test_spend_order_consumer_gets_team_counters_only(template):
    consumer = _consumer(template, "SpendOrderFunction")

    def record(event_name, entity, scope=None):
        image = {"entity": {"S": entity}} | ({"scope": {"S": scope}} if scope else {})
        return {"eventName": event_name, "dynamodb": {"NewImage": image}}

    assert passes(consumer.filters, record("MODIFY", "counter", "team"))
    assert passes(consumer.filters, record("INSERT", "counter", "team"))
    assert not passes(consumer.filters, record("MODIFY", "counter", "key"))  # other scopes
    assert not passes(consumer.filters, record("MODIFY", "counter", "team_membership"))
    assert not passes(consumer.filters, record("REMOVE", "counter", "team"))
    assert not passes(consumer.filters, record("INSERT", "audit"))


def test_spend_order_consumer_may_update_the_spend_order_only(template):
    props = functions(template)["SpendOrderFunction"]
    assert granted_actions(props) == {"dynamodb:UpdateItem"}
    (statement,) = [s for policy in props["Policies"] for s in policy["Statement"]]
    assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "SPENDORDER#*"]


def test_audit_publisher_may_put_to_its_stream_and_touch_its_markers_only(template):
    props = functions(template)["AuditPublisherFunction"]
    statements = [s for policy in props["Policies"] for s in policy["Statement"]]

    # Then: PutRecord on the audit stream; markers read and written by key, no index, no
    # other key prefix; no secret, no transaction, no update or delete
    assert granted_actions(props) == {"kinesis:PutRecord", "dynamodb:BatchGetItem",
                                      "dynamodb:PutItem"}
    (kinesis,) = [s for s in statements if s["Action"] == "kinesis:PutRecord"]
    assert kinesis["Resource"] == {"Fn::GetAtt": ["AuditStream", "Arn"]}
    (table,) = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert table["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}
    leading_keys = table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert leading_keys == [f"{table_keys.AUDIT_PUBLISHED_PREFIX}*"]


def test_audit_stream_is_on_demand_encrypted_and_keeps_records_as_the_parameter_says(template):
    stream = template["Resources"]["AuditStream"]
    retention = template["Parameters"]["AuditStreamRetentionHours"]

    assert stream["Type"] == "AWS::Kinesis::Stream"
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["Properties"]["StreamEncryption"] == {
        "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["Properties"]["RetentionPeriodHours"] == {"Ref": "AuditStreamRetentionHours"}
    assert (retention["Default"], retention["MinValue"], retention["MaxValue"]) == (24, 24, 8760)


def test_audit_retention_days_reaches_every_function(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert template["Parameters"]["AuditRetentionDays"]["Default"] == 90
    assert variables["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}
