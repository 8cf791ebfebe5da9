"""The local moto keeps DynamoDB's all-or-nothing transactions with item-level backups."""

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import moto_server


@pytest.fixture(scope="module")
def dynamodb():
    server, endpoint = moto_server.start()
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                   {"AttributeName": "SK", "KeyType": "RANGE"}],
                        StreamSpecification={"StreamEnabled": True,
                                             "StreamViewType": "NEW_AND_OLD_IMAGES"})
    yield client
    server.stop()


def _item(pk: str, value: str = "v") -> dict:
    return {"PK": {"S": pk}, "SK": {"S": "A"}, "v": {"S": value}}


def _stream_length(client) -> int:
    streams = boto3.client("dynamodbstreams", endpoint_url=client.meta.endpoint_url,
                           region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x")
    arn = client.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return len(streams.get_records(ShardIterator=iterator)["Records"])


def test_a_cancelled_transaction_leaves_no_item_and_no_stream_record(dynamodb):
    dynamodb.put_item(TableName="t", Item=_item("kept", "old"))
    records = _stream_length(dynamodb)
    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": _item("new")}},
            {"Update": {"TableName": "t", "Key": {"PK": {"S": "kept"}, "SK": {"S": "A"}},
                        "UpdateExpression": "SET v = :n",
                        "ExpressionAttributeValues": {":n": {"S": "changed"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"PK": {"S": "absent"}, "SK": {"S": "A"}},
                                "ConditionExpression": "attribute_exists(PK)"}},
        ])
    reasons = [r["Code"] for r in error.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert "Item" not in dynamodb.get_item(TableName="t", Key={"PK": {"S": "new"},
                                                                "SK": {"S": "A"}})
    kept = dynamodb.get_item(TableName="t", Key={"PK": {"S": "kept"}, "SK": {"S": "A"}})
    assert kept["Item"]["v"] == {"S": "old"}
    assert _stream_length(dynamodb) == records


def test_a_committed_transaction_applies_every_item(dynamodb):
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": _item(f"p{i}")}} for i in range(100)])
    count = dynamodb.scan(TableName="t", Select="COUNT")["Count"]
    assert count >= 100
