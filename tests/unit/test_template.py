"""template.yaml: one function per handler, least-privilege policies, a table moto can build."""

from pathlib import Path

import pytest
from teamledger.store import keys as table_keys

from tests.support.streams import passes
from tests.support.template import (
    REPO_ROOT,
    configured,
    load_template,
    routes,
    stream_consumers,
    table_definition,
)

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


# The audit carrier's configurations (AuditCarrier x CreateAuditKmsKey); the first is the default.
AUDIT_CONFIGURATIONS = [{}, {"CreateAuditKmsKey": "true"}, {"AuditCarrier": "kinesis"},
                        {"AuditCarrier": "kinesis", "CreateAuditKmsKey": "true"}]


@pytest.fixture(scope="module")
def template():
    """The template as deployed with its parameters' defaults."""
    return configured(load_template())


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

    # Then they carry the eleven GSIs, each with PK/SK key names, and a stream with both images
    indexes = {gsi["IndexName"]: gsi for gsi in definition["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == sorted(f"GSI{n}" for n in range(1, 12))
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


@pytest.mark.parametrize("parameters", AUDIT_CONFIGURATIONS)
def test_audit_publisher_may_send_to_its_carrier_and_touch_its_markers_only(parameters):
    # Given the template deployed with this carrier and key
    deployed = configured(load_template(), **parameters)
    props = functions(deployed)["AuditPublisherFunction"]
    statements = [s for policy in props["Policies"] for s in policy["Statement"]]
    on_kinesis = parameters.get("AuditCarrier") == "kinesis"
    carrier, send = (("AuditStream", "kinesis:PutRecord") if on_kinesis
                     else ("AuditQueue", "sqs:SendMessage"))
    own_key = parameters.get("CreateAuditKmsKey") == "true"
    key_actions = ({"kms:GenerateDataKey"} if on_kinesis
                   else {"kms:GenerateDataKey", "kms:Decrypt"}) if own_key else set()

    # Then: its carrier's send on that carrier only (the key's data keys if the stack has a
    # key); markers read and written by key, no index, no other key prefix; no secret, no
    # transaction, no update or delete
    assert granted_actions(props) == {send, "dynamodb:BatchGetItem",
                                      "dynamodb:PutItem"} | key_actions
    (sends,) = [s for s in statements if s["Action"] == send]
    assert sends["Resource"] == {"Fn::GetAtt": [carrier, "Arn"]}
    keys = [s for s in statements if str(s["Action"]).startswith(("kms:", "['kms:"))]
    assert [k["Resource"] for k in keys] == ([{"Fn::GetAtt": ["AuditKmsKey", "Arn"]}]
                                             if own_key else [])
    (table,) = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert table["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}
    leading_keys = table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert leading_keys == [f"{table_keys.AUDIT_PUBLISHED_PREFIX}*"]
    # And its environment names its carrier, and only that one
    variables = props["Environment"]["Variables"]
    assert variables["AUDIT_CARRIER"] == {"Ref": "AuditCarrier"}
    expected = {"AUDIT_STREAM_NAME": {"Ref": "AuditStream"}} if on_kinesis else {
        "AUDIT_QUEUE_URL": {"Ref": "AuditQueue"}}
    assert {name: value for name, value in variables.items()
            if name in ("AUDIT_STREAM_NAME", "AUDIT_QUEUE_URL")} == expected


def test_the_default_carrier_is_the_fifo_queue_without_a_customer_managed_key(template):
    parameters = load_template()["Parameters"]

    assert parameters["AuditCarrier"]["Default"] == "sqs-fifo"
    assert parameters["AuditCarrier"]["AllowedValues"] == ["sqs-fifo", "kinesis"]
    assert parameters["CreateAuditKmsKey"]["Default"] == "false"
    # (so the default stack has no Kinesis stream and no key: nothing billed per hour)
    kinds = {resource["Type"] for resource in template["Resources"].values()}
    assert "AWS::Kinesis::Stream" not in kinds and "AWS::KMS::Key" not in kinds


@pytest.mark.parametrize("parameters", AUDIT_CONFIGURATIONS)
def test_exactly_one_carrier_exists_encrypted_and_kept_when_the_stack_goes(parameters):
    # Given the template deployed with this carrier and key
    resources = configured(load_template(), **parameters)["Resources"]
    on_kinesis = parameters.get("AuditCarrier") == "kinesis"
    own_key = parameters.get("CreateAuditKmsKey") == "true"
    key_arn = {"Fn::GetAtt": ["AuditKmsKey", "Arn"]}

    # Then there is one carrier, and it outlives the stack (with the key that encrypts it)
    assert ("AuditStream" in resources, "AuditQueue" in resources) == (on_kinesis, not on_kinesis)
    carrier = resources["AuditStream" if on_kinesis else "AuditQueue"]
    kept = [carrier] + ([resources["AuditKmsKey"]] if own_key else [])
    assert all(r["DeletionPolicy"] == r["UpdateReplacePolicy"] == "Retain" for r in kept)
    assert ("AuditKmsKey" in resources) == own_key
    props = carrier["Properties"]
    if on_kinesis:
        # And the stream is on demand, KMS-encrypted (AWS's key or the stack's)
        assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
        assert props["StreamEncryption"] == {
            "EncryptionType": "KMS", "KeyId": key_arn if own_key else "alias/aws/kinesis"}
        assert props["RetentionPeriodHours"] == {"Ref": "AuditStreamRetentionHours"}
    else:
        # And the queue is FIFO, deduplicated by the id the publisher sends, kept 14 days,
        # encrypted by SQS's own key or the stack's
        assert (props["FifoQueue"], props["ContentBasedDeduplication"]) == (True, False)
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
        encryption = {k: v for k, v in props.items()
                      if k in ("SqsManagedSseEnabled", "KmsMasterKeyId")}
        assert encryption == ({"KmsMasterKeyId": key_arn} if own_key
                              else {"SqsManagedSseEnabled": True})
    if own_key:
        assert resources["AuditKmsKey"]["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("parameters", AUDIT_CONFIGURATIONS)
def test_the_outputs_name_the_carrier_deployed(parameters):
    outputs = configured(load_template(), **parameters)["Outputs"]
    on_kinesis = parameters.get("AuditCarrier") == "kinesis"

    audit = {name for name in outputs if name.startswith("Audit") and "DeadLetter" not in name}
    assert audit == ({"AuditStreamName"} if on_kinesis else {"AuditQueueUrl", "AuditQueueArn"}) | (
        {"AuditKmsKeyArn"} if parameters.get("CreateAuditKmsKey") == "true" else set())


def test_audit_stream_keeps_records_as_the_parameter_says():
    retention = load_template()["Parameters"]["AuditStreamRetentionHours"]

    assert (retention["Default"], retention["MinValue"], retention["MaxValue"]) == (24, 24, 8760)


def test_audit_retention_days_reaches_every_function(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert template["Parameters"]["AuditRetentionDays"]["Default"] == 90
    assert variables["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}
