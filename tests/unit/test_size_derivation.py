"""The size limits of `teamledger.sizes`, derived: every key of `store/keys.py` built from text
at its limit fits DynamoDB's key limits; a team at every cap, and the record of a change of
all its fields at once, fit an item; the store's estimate of an item bounds moto's count; and
the store refuses, before sending anything, what would not fit."""

import uuid

import pytest
from teamledger import sizes
from teamledger.config import settings
from teamledger.domain import audit
from teamledger.errors import BadRequest
from teamledger.store import alias_words, client, keys, table
from teamledger.store.audit import AuditStore
from teamledger.store.marshal import item_size, to_attr, to_item
from teamledger.store.refs import KeyRef, MemberRef, TeamRef, UserRef
from teamledger.store.teams import TeamStore

EMOJI = "\U0001f600"


def sized(n_bytes: int, char: str = EMOJI) -> str:
    width = len(char.encode())
    text = char * (n_bytes // width) + "a" * (n_bytes % width)
    assert sizes.utf8_size(text) == n_bytes
    return text


# Ids at the limit in every way that matters to a key: 4-byte characters, and ':' and '%',
# which an audit object id escapes to 3 bytes each.
IDS = [sized(sizes.ID_BYTES), ":" * sizes.ID_BYTES, "%" * sizes.ID_BYTES]
# Aliases at the limit: 4-byte characters, a letter that grows when lowercased (İ: 2 bytes, 3
# lowercased), and characters the alias order escapes ('$' and below: 1 byte, 2 escaped).
ALIASES = [sized(sizes.ALIAS_BYTES), sized(sizes.ALIAS_BYTES, "\u0130"),
           "$" * sizes.ALIAS_BYTES, " " * sizes.ALIAS_BYTES]
EMAILS = [sized(sizes.EMAIL_BYTES - 2, "\u0130") + "@x", sized(sizes.EMAIL_BYTES - 5) + "@x.io"]
CHANGERS = [sized(sizes.CHANGED_BY_BYTES)]
TOKEN = "f" * 64  # sha256 hex: every key's token
STAMP = "2026-11-27T06:09:14.123456Z"


def every_key() -> list[dict[str, str]]:
    """Every key and index attribute the stores build from user text, at the limits."""
    built: list[dict] = []
    for team_id in IDS:
        for user_id in IDS:
            built += [keys.member(team_id, user_id), keys.member_index(team_id, user_id),
                      keys.counter(MemberRef(team_id, user_id)),
                      keys.audit(audit.membership_id(team_id, user_id), STAMP, str(uuid.uuid4())),
                      keys.key_index(TOKEN, user_id, team_id)]
        for alias in ALIASES + [None, sized(sizes.ALIAS_BYTES, "\U00020000")]:
            built += [keys.alias_index(team_id, alias),
                      keys.team_index({"team_id": team_id, "team_alias": alias,
                                       "created_at": STAMP})]
            built += [{"PK": pk, "SK": sk} for pk, sk in alias_words.entries(
                {"team_id": team_id, "team_alias": alias, "created_at": STAMP})]
        built += [keys.team(team_id), keys.roster(team_id), keys.counter(TeamRef(team_id)),
                  keys.spend_order_item(team_id), keys.spend_index(team_id, 10**25),
                  keys.audit(audit.object_id(team_id), STAMP, str(uuid.uuid4())),
                  keys.reset_index(keys.team(team_id), STAMP),
                  {"PK": keys.team_keys_partition(team_id), "SK": keys.team_data_prefix(team_id)}]
        user_id = team_id
        built += [keys.user(user_id), keys.counter(UserRef(user_id)),
                  keys.audit(audit.object_id(user_id), STAMP, str(uuid.uuid4()))]
        for email in EMAILS:
            built += [keys.user_index(user_id, email)]
            if hasattr(keys, "email"):
                built.append(keys.email(email))
    for changer in CHANGERS:
        for team_id in IDS:  # a record in a team's timeline too
            built.append(keys.audit_index(changer, audit.KEY_TABLE, f"{STAMP}#{uuid.uuid4()}",
                                          team_id))
    built += [keys.api_key(TOKEN), keys.counter(KeyRef(TOKEN)),
              keys.audit(audit.object_id(TOKEN), STAMP, str(uuid.uuid4())),
              keys.reservation(sized(4 * 128)),  # a reservation_id as /spend/settle takes it
              keys.lease_index(sized(4 * 128), IDS[0], STAMP)]
    return built


def test_every_key_built_from_text_at_its_limit_fits():
    # Given every key and index attribute built from ids, aliases, emails and changers at
    # their limits (in bytes, in the characters that make them longest)
    longest = {"PK": 0, "SK": 0}
    for built in every_key():
        for name, value in built.items():
            if not name.endswith(("PK", "SK")) or value is None:
                continue
            kind = name[-2:]
            size = sizes.utf8_size(value)
            longest[kind] = max(longest[kind], size)
            # Then each partition key fits 2,048 bytes and each sort key 1,024
            limit = sizes.PARTITION_KEY_BYTES if kind == "PK" else sizes.SORT_KEY_BYTES
            assert size <= limit, (name, size, value[:40])
    # And the longest sort key is the alias order's (the alias's first 190 characters, '#' and
    # the team id), which ids 8 bytes longer would take over the limit
    alias_key = max(sizes.utf8_size(keys.alias_order(i, a)) for i in IDS for a in ALIASES)
    assert longest["SK"] == alias_key
    assert alias_key + 8 > sizes.SORT_KEY_BYTES


# --- a team at every cap ------------------------------------------------------------------

def nested(n_bytes: int, digit: int = 1, depth: int = 20) -> dict:
    """JSON of exactly `n_bytes` that is about twice as large stored: lists nested around one
    digit (2 bytes of JSON a level, 4 stored)."""
    element: object = digit
    for _ in range(depth - 1):
        element = [element]
    count = (n_bytes - sizes.json_size({"p": "", "n": []}) + 1) // (sizes.json_size(element) + 1)
    value = {"p": "", "n": [element] * count}
    value["p"] = "x" * (n_bytes - sizes.json_size(value))
    assert sizes.json_size(value) == n_bytes
    return value


def names(n_bytes: int, prefix: str) -> list[str]:
    found: list[str] = []
    while sizes.json_size(found) + 403 < n_bytes:
        found.append(f"{prefix}{len(found)}".ljust(400, "m"))
    found.append("z" * (n_bytes - sizes.json_size(found) - 3))
    assert sizes.json_size(found) == n_bytes
    return found


def team_at_caps(variant: int) -> dict:
    metadata = nested(sizes.METADATA_BYTES, variant)
    return {"team_id": IDS[0], "team_alias": sized(sizes.ALIAS_BYTES),
            "organization_id": sized(sizes.ID_BYTES), "metadata": metadata,
            "litellm_model_table": {"model_aliases": nested(sizes.MODEL_ALIASES_BYTES,
                                                            variant)},
            "models": names(sizes.MODELS_BYTES, f"v{variant}-"), "tpm_limit": 10**15,
            "rpm_limit": 10**15, "max_parallel_requests": 10**15, "max_budget": 1e15,
            "budget_duration": "1200mo", "budget_reset_at": STAMP, "budget_anchor": STAMP,
            "blocked": True, "created_at": STAMP, "updated_at": STAMP, "model_id": None}


@pytest.fixture
def transaction(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "unit")
    settings.cache_clear()
    yield table.Transaction()
    settings.cache_clear()


def record(tx: table.Transaction, before: dict | None, after: dict | None,
           action: str = audit.UPDATED) -> None:
    AuditStore().record(tx, {
        "id": str(uuid.uuid4()), "updated_at": STAMP, "changed_by": CHANGERS[0],
        "changed_by_api_key": TOKEN, "action": action, "table_name": audit.TEAM_TABLE,
        "object_id": audit.object_id(IDS[0]), "before_value": before,
        "updated_values": after or {}, "ttl": 10**10}, IDS[0])


def puts(tx: table.Transaction) -> list[int]:
    return [item_size(write["Put"]["Item"]) for write in tx.items if "Put" in write]


def test_a_team_at_every_cap_and_a_change_of_everything_fit_an_item(transaction):
    # Given a team at every cap, in the values that are largest stored
    first, second = team_at_caps(1), team_at_caps(2)
    TeamStore().put_new(transaction, first, [], refusal=BadRequest("exists"))
    # When every field changes at once (the record holds the old and the new values)
    record(transaction, first, second)
    # Then the team item and the record each fit an item, the team with room to spare
    team_item, *_, change = puts(transaction)
    assert team_item < sizes.ITEM_BYTES / 2, team_item
    assert change <= sizes.ITEM_BYTES, change
    # And the team's creation and deletion records, which hold it whole, fit too
    record(transaction, None, first, audit.CREATED)
    record(transaction, first, None, audit.DELETED)
    assert max(puts(transaction)) <= sizes.ITEM_BYTES


def test_the_caps_are_what_a_change_of_everything_needs():
    # Twice (old and new) twice (stored) the JSON caps, and the names once: within an item
    worst = 2 * (2 * (sizes.METADATA_BYTES + sizes.MODEL_ALIASES_BYTES) + sizes.MODELS_BYTES)
    assert worst + 8 * sizes.ALIAS_BYTES <= sizes.ITEM_BYTES


# --- the estimate ---------------------------------------------------------------------------

SAMPLES = [
    {"n": 1, "f": 2e-130, "big": 10**37, "neg": -0.5, "b": True, "z": None},
    {"s": "é" * 100 + EMOJI, "l": [[], {}, [1, [2, [3]]], ""], "m": {"": {"k": "v"}}},
    nested(5_000), {"names": names(3_000, "n")}, {"d": {"x" * 300: [None, False] * 50}},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_the_estimate_bounds_moto_and_dynamodbs_counts(value):
    from moto.dynamodb.models.dynamo_type import DynamoType

    wire = to_item(value)
    moto = sum(len(k.encode()) + DynamoType(v).size() for k, v in wire.items())
    assert item_size(wire) >= moto


def test_the_estimate_counts_as_dynamodb_documents():
    # Names and text in UTF-8; 3 bytes a map or list and 1 an element; a number its digits + 1
    assert item_size({"l": to_attr([])}) == 1 + 3
    assert item_size({"l": to_attr(["ab", 12])}) == 1 + 3 + (2 + 1) + (3 + 1)
    assert item_size({"m": to_attr({"é": True})}) == 1 + 3 + (2 + 1 + 1)


def test_json_size_counts_compact_utf8():
    assert sizes.json_size({"a": ["é", 1]}) == len('{"a":["é",1]}'.encode())
    assert sizes.json_size({"a": "\ud800"}) == len('{"a":""}') + 3


# --- the store refuses what would not fit, before sending it ----------------------------

@pytest.fixture
def no_calls(monkeypatch):
    def refuse(operation, request):
        raise AssertionError(f"{operation} was sent")

    monkeypatch.setattr(table, "call", refuse)


def test_a_put_over_an_item_is_refused_before_it_is_sent(transaction, no_calls):
    transaction.put({"PK": "X#1", "SK": "X", "blob": "x" * sizes.ITEM_BYTES})
    with pytest.raises(BadRequest, match="400 KB"):
        transaction.commit()


def test_writes_over_a_transaction_are_refused_before_they_are_sent(transaction, no_calls):
    for n in range(20):
        transaction.put({"PK": f"X#{n}", "SK": "X", "blob": "x" * (sizes.ITEM_BYTES // 2)})
    transaction.reckon({"blob": "x" * (sizes.ITEM_BYTES // 2)})
    assert transaction.size > sizes.TRANSACTION_BYTES
    with pytest.raises(BadRequest, match="4 MB"):
        transaction.commit()


def test_more_writes_than_a_transaction_holds_are_refused_before_they_are_sent(
        transaction, no_calls):
    for n in range(sizes.TRANSACTION_ITEMS + 1):
        transaction.delete({"PK": f"X#{n}", "SK": "X"})
    with pytest.raises(BadRequest, match="100"):
        transaction.commit()


def test_a_transaction_of_100_writes_is_sent(transaction, monkeypatch):
    sent = []
    monkeypatch.setattr(table, "call", lambda operation, request: sent.append(request) or {})
    for n in range(sizes.TRANSACTION_ITEMS):
        transaction.delete({"PK": f"X#{n}", "SK": "X"})
    transaction.commit()
    assert len(sent[0]["TransactItems"]) == 100


def test_a_put_at_an_item_is_sent(transaction, monkeypatch):
    sent = []
    monkeypatch.setattr(table, "call", lambda operation, request: sent.append(operation) or {})
    item = {"PK": "X#1", "SK": "X", "blob": ""}
    item["blob"] = "x" * (sizes.ITEM_BYTES - item_size(to_item(item)))
    transaction.put(item)
    transaction.commit()
    assert sent == ["transact_write_items"]


def test_a_new_item_over_an_item_is_refused_before_it_is_sent(transaction, no_calls):
    with pytest.raises(BadRequest):
        table.put_new({"PK": "X#1", "SK": "X", "blob": "x" * sizes.ITEM_BYTES})


@pytest.mark.parametrize("message", [
    "Item size has exceeded the maximum allowed size",
    "Item size to update has exceeded the maximum allowed size",
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
    "limit of2048 bytes",
    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
    "the size limit of 1024 bytes",
    "Transaction request cannot be larger than 4 MB",
])
def test_dynamodbs_size_errors_are_400(message):
    assert client.too_large(message)


def test_other_validation_errors_are_not_size_errors():
    assert not client.too_large("Transaction request cannot include multiple operations on "
                                "one item")
    assert not client.too_large("One or more parameter values were invalid: An AttributeValue "
                                "may not contain an empty string")


def test_a_key_longer_than_dynamodb_holds_is_read_as_nothing(transaction, no_calls):
    assert table.get({"PK": "X#" + "x" * sizes.PARTITION_KEY_BYTES, "SK": "X"}) is None
    assert table.get({"PK": "X#1", "SK": "x" * (sizes.SORT_KEY_BYTES + 1)}) is None
    assert table.batch_get([{"PK": "X#" + EMOJI * 600, "SK": "X"}]) == []
    query = table.Query("AUDIT#" + EMOJI * 600)
    assert query.page(10) == ([], None)
    assert query.count() == 0
    assert table.Query("TEAMDATA", index="GSI7", sk_prefix=EMOJI * 300).page() == ([], None)


@pytest.mark.parametrize(("message", "answer"), [
    ("Item size has exceeded the maximum allowed size", client.TOO_LARGE),
    ("Transaction request cannot be larger than 4 MB", client.TOO_LARGE_TOGETHER),
])
def test_a_size_refusal_from_dynamodb_is_a_400(monkeypatch, message, answer):
    from botocore.exceptions import ClientError

    class Refusing:
        def put_item(self, **request):
            raise ClientError({"Error": {"Code": "ValidationException", "Message": message}},
                              "PutItem")

    monkeypatch.setattr(client, "client", lambda: Refusing())
    with pytest.raises(BadRequest) as refused:
        client.call("put_item", {})
    assert refused.value.message == answer


def test_a_transaction_cancelled_for_a_size_is_a_400(transaction, monkeypatch):
    from botocore.exceptions import ClientError

    too_big = "Item size has exceeded the maximum allowed size"

    def cancel(operation, request):
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"},
                           "CancellationReasons": [
                               {"Code": "None"}, {"Code": "ValidationError", "Message": too_big}]},
                          "TransactWriteItems")

    monkeypatch.setattr(table, "call", cancel)
    transaction.put({"PK": "X#1", "SK": "X"})
    transaction.put({"PK": "X#2", "SK": "X"})
    with pytest.raises(BadRequest, match="400 KB"):
        transaction.commit()
