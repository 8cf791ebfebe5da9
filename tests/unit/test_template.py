"""template.yaml: one function per handler, least-privilege policies, a table moto can build."""

from pathlib import Path

import pytest

from tests.support.template import REPO_ROOT, load_template, routes, table_definition

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
