"""The table moto builds from template.yaml is the table the template declares."""

import boto3
import pytest

from tests.support import moto_server
from tests.support.template import create_table, load_template


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def dynamodb():
    server, endpoint = moto_server.start()
    yield boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    server.stop()


def test_moto_builds_the_table_from_the_template(template, dynamodb):
    # When the table is created twice (the second call must be a no-op)
    create_table(dynamodb, "teamledger-test", template)
    table = create_table(dynamodb, "teamledger-test", template)

    # Then it is active, with the template's indexes, stream and TTL
    assert table["TableStatus"] == "ACTIVE"
    assert sorted(gsi["IndexName"] for gsi in table["GlobalSecondaryIndexes"]) == sorted(
        f"GSI{n}" for n in range(1, 12))
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert table["LatestStreamArn"]
    ttl = dynamodb.describe_time_to_live(TableName="teamledger-test")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
