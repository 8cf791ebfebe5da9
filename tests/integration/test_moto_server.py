"""The local moto keeps DynamoDB's all-or-nothing transactions with item-level backups, and
answers a Query page at the cost of the page, not of the table."""

import random

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from tests.support import moto_server
from tests.support.template import create_table


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


# Query pages -----------------------------------------------------------------------------------
# moto_server answers a Query from its partition kept in moto's order, handing moto's own query
# only the items of the page. Each page below is also asked of moto's query as it is (the
# page-cutting off) and must be the same answer; the pages together must be the items a
# plain reading of the data says, in order.

PAGING = "paging"
GSI_SK_VALUES = [f"{'ABC'[i % 3]}#{i % 7:02d}" for i in range(80)]


@pytest.fixture(scope="module")
def paging(dynamodb):
    create_table(dynamodb, PAGING)
    items = (
        [{"PK": "P#1", "SK": f"{letter}#{j:03d}", "n": j, "pad": "x" * (j * 7)}
         for letter in "ABC" for j in range(25)]
        + [{"PK": "P#2", "SK": f"A#{j:03d}", "n": j} for j in range(5)]
        + [{"PK": f"I#{i:03d}", "SK": "X", "GSI1PK": "G#1", "GSI1SK": sk, "n": i}
           for i, sk in enumerate(GSI_SK_VALUES)]
        + [{"PK": f"I#{i:03d}", "SK": "Y", "GSI1PK": "G#2", "GSI1SK": "B#00", "n": i}
           for i in range(5)]
        # Sparse: one index key attribute missing, so not in GSI1
        + [{"PK": f"N#{i}", "SK": "X", "GSI1PK": "G#1", "n": i} for i in range(5)]
        + [{"PK": f"M#{i}", "SK": "X", "GSI1SK": "B#00", "n": i} for i in range(5)]
        # Big items: the 1 MB ends a page before Limit does
        + [{"PK": "BIG", "SK": f"A#{j:02d}", "pad": "x" * 100_000} for j in range(8)]
        + [{"PK": "BIG", "SK": "AZ"}]
        + [{"PK": "BIG", "SK": f"B#{j:02d}", "pad": "x" * 300_000} for j in range(4)]
    )
    random.Random(7).shuffle(items)  # so that moto_server's order is its sort, not the writes'
    for i in range(0, len(items), 25):
        dynamodb.batch_write_item(RequestItems={PAGING: [
            {"PutRequest": {"Item": _wire(item)}} for item in items[i:i + 25]]})
    return items


@pytest.fixture
def handed(monkeypatch):
    """The length of every page moto_server hands to moto's query (None: left to moto)."""
    lengths = []
    page = moto_server._page

    def spy(*args):
        items = page(*args)
        lengths.append(None if items is None else len(items))
        return items

    monkeypatch.setattr(moto_server, "_page", spy)
    return lengths


def _wire(item: dict) -> dict:
    return {name: {"N": str(value)} if isinstance(value, int) else {"S": value}
            for name, value in item.items()}


def _answer(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _pages(client, monkeypatch, request: dict, start: dict | None = None) -> list[dict]:
    """Every page of request from start, each checked to be moto's own answer."""
    pages = []
    while True:
        page_request = dict(request, **({"ExclusiveStartKey": start} if start else {}))
        page = _answer(client.query(**page_request))
        with monkeypatch.context() as unpaged:
            unpaged.setattr(moto_server, "_page", lambda *args: None)
            assert _answer(client.query(**page_request)) == page
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def _query(pk: str, index: str | None = None, condition: tuple | None = None,
           **request) -> dict:
    """A Query request on PK (or the index's hash key) = pk, and condition on the sort key:
    (operator, value, ...) with the operators of a KeyConditionExpression."""
    prefix = index or ""
    names = {"#pk": f"{prefix}PK"}
    values = {":pk": {"S": pk}}
    expression = "#pk = :pk"
    if condition:
        operator, *operands = condition
        names["#sk"] = f"{prefix}SK"
        values.update({f":v{i}": {"S": v} for i, v in enumerate(operands)})
        expression += {"begins_with": " AND begins_with(#sk, :v0)",
                       "BETWEEN": " AND #sk BETWEEN :v0 AND :v1"}.get(
            operator, f" AND #sk {operator} :v0")
    merged = dict(request)
    merged.update(TableName=PAGING, KeyConditionExpression=expression,
                  ExpressionAttributeNames={**names, **request.get("ExpressionAttributeNames", {})},
                  ExpressionAttributeValues={**values,
                                             **request.get("ExpressionAttributeValues", {})})
    if index:
        merged["IndexName"] = index
    return merged


def _matches(value: str, condition: tuple | None) -> bool:
    if condition is None:
        return True
    operator, *operands = condition
    return {"begins_with": lambda: value.startswith(operands[0]),
            "BETWEEN": lambda: operands[0] <= value <= operands[1],
            "=": lambda: value == operands[0], "<": lambda: value < operands[0],
            "<=": lambda: value <= operands[0], ">": lambda: value > operands[0],
            ">=": lambda: value >= operands[0]}[operator]()


def _expected(items: list[dict], pk: str, index: str | None, condition: tuple | None,
              forward: bool) -> list[tuple[str, str]]:
    """The (PK, SK) of the items the query reads, in query order: DynamoDB's index order is
    by index sort key, then (as moto does it) by the table's key."""
    prefix = index or ""
    found = [item for item in items if item.get(f"{prefix}PK") == pk
             and f"{prefix}SK" in item and _matches(item[f"{prefix}SK"], condition)]
    found.sort(key=lambda item: (item[f"{prefix}SK"], item["PK"], item["SK"]),
               reverse=not forward)
    return [(item["PK"], item["SK"]) for item in found]


def _keys(pages: list[dict]) -> list[tuple[str, str]]:
    return [(item["PK"]["S"], item["SK"]["S"]) for page in pages for item in page["Items"]]


BASE_CONDITIONS = [None, ("begins_with", "B#"), ("<=", "B#010"), ("BETWEEN", "A#020", "C#003"),
                   (">", "C#"), ("=", "B#007"), ("<", "A"), (">=", "C#024")]
INDEX_CONDITIONS = [None, ("begins_with", "B#"), ("<=", "B#03"), ("BETWEEN", "A#05", "C#01"),
                    (">", "C#"), ("=", "B#02"), ("<", "A"), (">=", "C#04")]


@pytest.mark.parametrize("pk,index,condition",
                         [("P#1", None, c) for c in BASE_CONDITIONS]
                         + [("G#1", "GSI1", c) for c in INDEX_CONDITIONS])
def test_query_pages_are_moto_s_answers(dynamodb, paging, monkeypatch, handed, pk, index,
                                        condition):
    for limit in (7, None):
        for forward in (True, False):
            request = _query(pk, index, condition, ScanIndexForward=forward,
                             **({"Limit": limit} if limit else {}))
            handed.clear()
            pages = _pages(dynamodb, monkeypatch, request)
            assert _keys(pages) == _expected(paging, pk, index, condition, forward)
            assert None not in handed  # every page was cut by moto_server, none left to moto
            if limit:
                assert all(page["Count"] <= limit for page in pages)
                assert max(handed) <= limit + 1  # the page and the item that says "more"


def test_limit_one_pages_through_ties_of_the_index_sort_key(dynamodb, paging, monkeypatch,
                                                            handed):
    for forward in (True, False):
        request = _query("G#1", "GSI1", ("begins_with", "A#0"), Limit=1, ScanIndexForward=forward)
        pages = _pages(dynamodb, monkeypatch, request)
        assert _keys(pages) == _expected(paging, "G#1", "GSI1", ("begins_with", "A#0"), forward)
    assert None not in handed and max(handed) <= 2


def test_filter_expression_applies_after_limit(dynamodb, paging, monkeypatch, handed):
    for pk, index in (("P#1", None), ("G#1", "GSI1")):
        request = _query(pk, index, Limit=6, FilterExpression="#n >= :low",
                         ExpressionAttributeNames={"#n": "n"},
                         ExpressionAttributeValues={":low": {"N": "15"}})
        pages = _pages(dynamodb, monkeypatch, request)
        assert all(page["ScannedCount"] <= 6 for page in pages)
        assert sum(page["ScannedCount"] for page in pages) == len(
            _expected(paging, pk, index, None, True))
        keys = _expected(paging, pk, index, None, True)
        n_of = {(item["PK"], item["SK"]): item.get("n") for item in paging}
        assert _keys(pages) == [key for key in keys if n_of[key] >= 15]
    assert None not in handed


def test_select_count_and_projection(dynamodb, paging, monkeypatch, handed):
    pages = _pages(dynamodb, monkeypatch, _query("G#1", "GSI1", ("<=", "B#03"), Limit=9,
                                                 Select="COUNT"))
    assert all("Items" not in page for page in pages)
    assert sum(page["Count"] for page in pages) == len(
        _expected(paging, "G#1", "GSI1", ("<=", "B#03"), True))
    pages = _pages(dynamodb, monkeypatch, _query("P#1", None, ("begins_with", "C#"), Limit=10,
                                                 ScanIndexForward=False,
                                                 ProjectionExpression="SK, n"))
    assert [item["SK"]["S"] for page in pages for item in page["Items"]] == [
        f"C#{j:03d}" for j in reversed(range(25))]
    assert all(set(item) == {"SK", "n"} for page in pages for item in page["Items"])
    assert None not in handed


def test_the_1_mb_ends_pages_as_moto_ends_them(dynamodb, paging, monkeypatch, handed):
    pages = _pages(dynamodb, monkeypatch, _query("BIG"))
    assert [len(page["Items"]) for page in pages] == [9, 3, 1]  # 8 x 100 kB and AZ, 3 x 300 kB
    # moto's quirk, kept: past the range, an item that would overflow the 1 MB still ends the
    # page (with a LastEvaluatedKey, and an empty page after it), even after a smaller one (AZ)
    pages = _pages(dynamodb, monkeypatch, _query("BIG", None, ("begins_with", "A#")))
    assert [len(page["Items"]) for page in pages] == [8, 0]
    pages = _pages(dynamodb, monkeypatch, _query("BIG", None, ("<", "B#01"),
                                                 ScanIndexForward=False))
    assert _keys(pages) == [("BIG", "B#00"), ("BIG", "AZ")] + [
        ("BIG", f"A#{j:02d}") for j in range(7, -1, -1)]
    assert None not in handed


def test_an_exclusive_start_key_between_items_and_from_another_partition(dynamodb, paging,
                                                                        monkeypatch, handed):
    # A key that is no item (the item was deleted, say) starts right after where it would be.
    start = {"GSI1PK": {"S": "G#1"}, "GSI1SK": {"S": "B#02"}, "PK": {"S": "I#050"},
             "SK": {"S": "X"}}
    for forward in (True, False):
        pages = _pages(dynamodb, monkeypatch, _query("G#1", "GSI1", Limit=10,
                                                     ScanIndexForward=forward), start)
        edge = ("B#02", "I#050", "X")
        n_of = {(item["PK"], item["SK"]): item for item in paging}
        keys = [key for key in _expected(paging, "G#1", "GSI1", None, forward)
                if ((n_of[key]["GSI1SK"], *key) > edge) == forward]
        assert _keys(pages) == keys
    # moto reads a start key of another partition as all before (or all after) this one
    for pk in ("A", "Z"):
        start = {"PK": {"S": pk}, "SK": {"S": "B#000"}}
        _pages(dynamodb, monkeypatch, _query("P#1", Limit=30), start)
    assert None not in handed


def _put(client, item: dict) -> None:
    client.put_item(TableName=PAGING, Item=_wire(item))


def test_writes_between_pages_show_in_the_next_pages(dynamodb, monkeypatch, handed):
    items = {(f"W#{i:02d}", "X"): {"PK": f"W#{i:02d}", "SK": "X", "GSI1PK": "W",
                                   "GSI1SK": f"{i:02d}"} for i in range(0, 40, 2)}
    for item in items.values():
        _put(dynamodb, item)
    request = _query("W", "GSI1", Limit=5)
    first = _answer(dynamodb.query(**request))
    assert [item["GSI1SK"]["S"] for item in first["Items"]] == ["00", "02", "04", "06", "08"]

    def write(item):
        _put(dynamodb, item)
        items[item["PK"], item["SK"]] = item

    write({"PK": "W#09", "SK": "X", "GSI1PK": "W", "GSI1SK": "09"})  # after the page: read
    write({"PK": "W#01", "SK": "X", "GSI1PK": "W", "GSI1SK": "01"})  # before it: not read
    dynamodb.delete_item(TableName=PAGING, Key={"PK": {"S": "W#12"}, "SK": {"S": "X"}})
    del items["W#12", "X"]
    dynamodb.update_item(TableName=PAGING, Key={"PK": {"S": "W#20"}, "SK": {"S": "X"}},
                         UpdateExpression="SET GSI1SK = :sk",
                         ExpressionAttributeValues={":sk": {"S": "99"}})
    items["W#20", "X"]["GSI1SK"] = "99"
    dynamodb.update_item(TableName=PAGING, Key={"PK": {"S": "W#30"}, "SK": {"S": "X"}},
                         UpdateExpression="REMOVE GSI1SK")
    del items["W#30", "X"]["GSI1SK"]

    rest = _pages(dynamodb, monkeypatch, request, first["LastEvaluatedKey"])
    assert _keys(rest) == [key for key in _expected(list(items.values()), "W", "GSI1", None, True)
                           if items[key]["GSI1SK"] > "08"]
    assert "W#09" in dict(_keys(rest)) and "W#01" not in dict(_keys(rest))
    assert None not in handed


def test_an_update_moves_its_item_in_the_next_query(dynamodb, monkeypatch, handed):
    for i in range(10):
        _put(dynamodb, {"PK": f"U#{i}", "SK": "X", "GSI1PK": "U", "GSI1SK": f"{i}"})
    request = _query("U", "GSI1", Limit=3)

    def first_page():
        return [pk for pk, _ in _keys(_pages(dynamodb, monkeypatch, request)[:1])]

    assert first_page() == ["U#0", "U#1", "U#2"]
    dynamodb.update_item(TableName=PAGING, Key={"PK": {"S": "U#9"}, "SK": {"S": "X"}},
                         UpdateExpression="SET GSI1SK = :sk",
                         ExpressionAttributeValues={":sk": {"S": "!"}})
    assert first_page() == ["U#9", "U#0", "U#1"]
    dynamodb.update_item(TableName=PAGING, Key={"PK": {"S": "U#0"}, "SK": {"S": "X"}},
                         UpdateExpression="REMOVE GSI1SK")
    assert first_page() == ["U#9", "U#1", "U#2"]
    assert None not in handed


def test_writes_between_backward_pages_of_the_base_table(dynamodb, monkeypatch, handed):
    sks = {f"{i:02d}" for i in range(0, 40, 2)}
    for sk in sks:
        _put(dynamodb, {"PK": "WP", "SK": sk})
    request = _query("WP", ScanIndexForward=False, Limit=5)
    first = _answer(dynamodb.query(**request))
    assert [item["SK"]["S"] for item in first["Items"]] == ["38", "36", "34", "32", "30"]
    for sk in ("29", "31", "05"):
        _put(dynamodb, {"PK": "WP", "SK": sk})
    dynamodb.delete_item(TableName=PAGING, Key={"PK": {"S": "WP"}, "SK": {"S": "20"}})
    sks = (sks | {"29", "31", "05"}) - {"20"}
    rest = _pages(dynamodb, monkeypatch, request, first["LastEvaluatedKey"])
    assert [sk for _, sk in _keys(rest)] == sorted((sk for sk in sks if sk < "30"), reverse=True)
    assert None not in handed


def test_a_cancelled_transaction_leaves_the_index_order_as_it_was(dynamodb, monkeypatch):
    for i in range(3):
        _put(dynamodb, {"PK": f"T#{i}", "SK": "X", "GSI1PK": "T", "GSI1SK": f"{i}"})
    request = _query("T", "GSI1")
    before = _pages(dynamodb, monkeypatch, request)
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": PAGING, "Key": {"PK": {"S": "T#0"}, "SK": {"S": "X"}},
                        "UpdateExpression": "SET GSI1SK = :sk",
                        "ExpressionAttributeValues": {":sk": {"S": "9"}}}},
            {"Put": {"TableName": PAGING, "Item": _wire(
                {"PK": "T#5", "SK": "X", "GSI1PK": "T", "GSI1SK": "5"})}},
            {"ConditionCheck": {"TableName": PAGING,
                                "Key": {"PK": {"S": "absent"}, "SK": {"S": "X"}},
                                "ConditionExpression": "attribute_exists(PK)"}},
        ])
    assert _pages(dynamodb, monkeypatch, request) == before
    dynamodb.transact_write_items(TransactItems=[
        {"Update": {"TableName": PAGING, "Key": {"PK": {"S": "T#0"}, "SK": {"S": "X"}},
                    "UpdateExpression": "SET GSI1SK = :sk",
                    "ExpressionAttributeValues": {":sk": {"S": "9"}}}}])
    assert _keys(_pages(dynamodb, monkeypatch, request)) == [
        ("T#1", "X"), ("T#2", "X"), ("T#0", "X")]


def test_legacy_key_conditions_are_paged_and_a_query_filter_is_left_to_moto(
        dynamodb, paging, monkeypatch, handed):
    pages = _pages(dynamodb, monkeypatch, {"TableName": PAGING, "Limit": 2, "KeyConditions": {
        "PK": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "P#2"}]},
        "SK": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "A#001"}]}}})
    assert [sk for _, sk in _keys(pages)] == ["A#002", "A#003", "A#004"]
    assert handed == [3, 1]
    handed.clear()
    response = dynamodb.query(TableName=PAGING, KeyConditions={
        "PK": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "P#2"}]}},
        QueryFilter={"n": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "3"}]}})
    assert sorted(item["SK"]["S"] for item in response["Items"]) == ["A#003", "A#004"]
    assert handed == []  # never asked: the query went to moto's as it is


MANY = 20_000


def test_a_page_visits_the_page_not_the_table(dynamodb, paging, monkeypatch, handed):
    """On a table of 20,000 items in one index partition, a page costs its own items and a
    bisection: counted, not timed."""
    create_table(dynamodb, "many")
    backend = models.dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    for i in range(MANY):
        backend.put_item("many", _wire({"PK": f"TEAM#{i:05d}", "SK": "TEAM", "GSI1PK": "ALL",
                                        "GSI1SK": f"name{i % 500:03d}#{i:05d}"}))
    calls = {"sorts": 0, "comparisons": 0, "sizes": 0, "all_items": 0}

    def counted(name, method):
        def count(*args, **kwargs):
            calls[name] += 1
            return method(*args, **kwargs)
        return count

    monkeypatch.setattr(moto_server, "_index_groups", counted("sorts", moto_server._index_groups))
    monkeypatch.setattr(Table, "_item_comes_before_dct",
                        counted("comparisons", Table._item_comes_before_dct))
    monkeypatch.setattr(Item, "size", counted("sizes", Item.size))
    monkeypatch.setattr(Table, "all_items", counted("all_items", Table.all_items))

    request = {"TableName": "many", "IndexName": "GSI1", "Limit": 10,
               "KeyConditionExpression": "GSI1PK = :pk",
               "ExpressionAttributeValues": {":pk": {"S": "ALL"}}}
    first = dynamodb.query(**request)
    assert [item["GSI1SK"]["S"] for item in first["Items"]][:2] == ["name000#00000",
                                                                     "name000#00500"]
    deep_start = {"GSI1PK": {"S": "ALL"}, "GSI1SK": {"S": "name250#10250"},
                  "PK": {"S": "TEAM#10250"}, "SK": {"S": "TEAM"}}
    for forward in (True, False):
        page = dynamodb.query(**request, ExclusiveStartKey=deep_start, ScanIndexForward=forward)
        assert page["Items"][0]["PK"]["S"] == ("TEAM#10750" if forward else "TEAM#09750")
    dynamodb.query(TableName="many", KeyConditionExpression="PK = :pk",
                   ExpressionAttributeValues={":pk": {"S": "TEAM#12345"}})

    assert handed == [11, 11, 11, 1]
    assert calls["sorts"] == 1  # the index order, once until the next write
    assert calls["all_items"] == 0
    assert calls["comparisons"] <= 2 * MANY.bit_length()  # the bisection for the start key
    # Item.size: the page's items by moto_server, by moto's walk, by its capacity units
    assert calls["sizes"] <= 3 * sum(handed)

    # A write to another table leaves this one's order be; one to this table sorts it anew.
    dynamodb.put_item(TableName=PAGING, Item=_wire({"PK": "elsewhere", "SK": "X"}))
    assert dynamodb.query(**request)["Items"] == first["Items"]
    assert calls["sorts"] == 1
    backend.put_item("many", _wire({"PK": "TEAM#new", "SK": "TEAM", "GSI1PK": "ALL",
                                    "GSI1SK": "name000#0"}))
    assert dynamodb.query(**request)["Items"][0]["PK"]["S"] == "TEAM#new"
    assert calls["sorts"] == 2

    # The same deep page from moto's query as it is walks the partition to the start key.
    calls["comparisons"] = 0
    monkeypatch.setattr(moto_server, "_page", lambda *args: None)
    page = dynamodb.query(**request, ExclusiveStartKey=deep_start)
    assert page["Items"][0]["PK"]["S"] == "TEAM#10750"
    assert calls["comparisons"] > MANY // 2
    assert calls["all_items"] == 1


def test_item_reads_answer_the_document_moto_s_serializer_writes(dynamodb, paging, monkeypatch):
    # Given reads whose items hold every attribute type, and the generic serializer to compare
    client = dynamodb
    item = {"PK": {"S": "types"}, "SK": {"S": "1"}, "n": {"N": "1.50"}, "b": {"BOOL": False},
            "z": {"NULL": True}, "l": {"L": [{"S": "x"}, {"N": "-2"}]},
            "m": {"M": {"inner": {"M": {"s": {"S": "é"}}}}}, "ss": {"SS": ["a", "b"]},
            "bin": {"B": b"\x00\xff"}}
    client.put_item(TableName="t", Item=item)
    reads = [
        ("get_item", {"TableName": "t", "Key": {"PK": item["PK"], "SK": item["SK"]}}),
        ("batch_get_item", {"RequestItems": {"t": {"Keys": [
            {"PK": item["PK"], "SK": item["SK"]}, {"PK": {"S": "none"}, "SK": {"S": "x"}}]}}}),
        ("query", {"TableName": "t", "KeyConditionExpression": "PK = :p",
                   "ExpressionAttributeValues": {":p": item["PK"]}}),
        ("scan", {"TableName": "t", "Limit": 3}),
    ]
    for operation, request in reads:
        fast = _answer(getattr(client, operation)(**request))
        with monkeypatch.context() as generic:
            generic.setattr(moto_server, "_ITEM_READS", frozenset())
            assert _answer(getattr(client, operation)(**request)) == fast, operation
    assert _answer(client.get_item(**reads[0][1]))["Item"] == {
        k: v for k, v in item.items()}
