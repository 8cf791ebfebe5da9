"""Bad input of every kind gets a clear 4xx with a message, never a 500, and writes nothing.

Every route that takes input is fed wrong types, missing fields, bodies that are not UTF-8 or
not JSON, huge or deeply nested JSON, negative / NaN / infinite budgets, bad durations, ids
with control characters or over-long, and ids of objects that do not exist. Each answer must be
a 4xx whose JSON body is the API's error shape (`{"detail": {"error": "..."}}`, or 422's
`{"detail": [{"loc", "msg", "type"}]}`), without a traceback, and a snapshot of every item in
the table (key and content hash) taken right before and right after the request must be
identical: no partial write.

Bodies name the objects built once for this module by placeholders: "<team>", "<user>" (a
member of that team), "<outsider>" (a user who is not) and "<key>" (a key's token) are
replaced with the real ids before sending. Wherever a field is
wrong, the rest of the body is valid and names a real object, so a service that let the bad
field through would really write something, and the snapshot would show it.
"""

import hashlib
import json
import os
import uuid
from typing import Any

import boto3
import pytest

from tests.support.client import MASTER_KEY
from tests.support.legacy import user_without_email_item

POST_ROUTES = ("/team/new", "/team/update", "/team/delete", "/team/block", "/team/unblock",
               "/user/new", "/key/generate", "/key/delete", "/team/member_add",
               "/team/bulk_member_add", "/team/member_delete", "/team/member_update",
               "/team/model/add", "/team/model/delete", "/spend/track",
               "/team/permissions_update", "/user/update", "/user/delete", "/key/update")

# A valid body for each POST route that acts on the module's own objects.
VALID_BODY = {
    "/team/new": {"team_alias": "bad-input"},
    "/team/update": {"team_id": "<team>", "team_alias": "renamed"},
    "/team/delete": {"team_ids": ["<team>"]},
    "/team/block": {"team_id": "<team>"},
    "/team/unblock": {"team_id": "<team>"},
    "/user/new": {"user_email": "bad-input@example.com"},
    "/key/generate": {"team_id": "<team>", "user_id": "<user>"},
    "/key/delete": {"keys": ["<key>"]},
    "/team/member_add": {"team_id": "<team>", "member": {"user_id": "<outsider>"}},
    "/team/bulk_member_add": {"team_id": "<team>", "members": [{"user_id": "<outsider>"}]},
    "/team/member_delete": {"team_id": "<team>", "user_id": "<user>"},
    "/team/member_update": {"team_id": "<team>", "user_id": "<user>", "max_budget_in_team": 1},
    "/team/model/add": {"team_id": "<team>", "models": ["bad-input-model"]},
    "/team/model/delete": {"team_id": "<team>", "models": ["gpt-4o"]},
    "/spend/track": {"token": "<key>", "spend": 0.01},
    "/team/permissions_update": {"team_id": "<team>", "team_member_permissions": ["/key/list"]},
    "/user/update": {"user_id": "<outsider>", "metadata": {"changed": True}},
    "/user/delete": {"user_ids": ["<outsider>"]},
    "/key/update": {"key": "<key>", "key_alias": "renamed"},
    # Only in the duration cases (all 400): a success would change the module's key's token.
    "/key/regenerate": {"key": "<key>"},
}
ROUTES_WITH_METADATA = ("/team/new", "/team/update", "/user/new", "/key/generate",
                        "/user/update", "/key/update")
ROUTES_WITH_BUDGET = ("/team/new", "/team/update", "/user/new", "/key/generate",
                      "/team/member_add", "/team/bulk_member_add", "/team/member_update",
                      "/user/update", "/key/update")
# The member routes' budget is the membership's: its field says so.
BUDGET_FIELD = {route: "max_budget_in_team" for route in (
    "/team/member_add", "/team/bulk_member_add", "/team/member_update")}
ROUTES_WITH_DURATION = tuple(r for r in ROUTES_WITH_BUDGET if r != "/team/bulk_member_add")
ROUTES_WITH_LIMITS = ("/team/new", "/team/update")
MIB = 1024 * 1024
UNKNOWN_TOKEN = "0" * 64


# --- the world and the table --------------------------------------------------------------

@pytest.fixture(scope="module")
def known(api) -> dict[str, str]:
    """A user in a team (with a model), a key of that team, and a user outside it: real
    objects for bodies to name."""
    user = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": user["user_id"], "role": "user"}],
                        models=["gpt-4o"])
    key = api.new_key(team_id=team["team_id"], user_id=user["user_id"])
    return {"<team>": team["team_id"], "<user>": user["user_id"], "<key>": key["token"],
            "<outsider>": api.new_user()["user_id"]}


def fill(value: Any, known: dict[str, str]) -> Any:
    """The body with every placeholder replaced by the id it stands for."""
    if isinstance(value, str):
        for placeholder, real in known.items():
            value = value.replace(placeholder, real)
        return value
    if isinstance(value, dict):
        return {k: fill(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, known) for v in value]
    return value


def with_literal(body: dict, field: str, literal: str) -> str:
    """JSON text of `body` plus `field` set to a literal json.dumps cannot write (NaN...)."""
    return json.dumps(body | {field: "@literal@"}).replace('"@literal@"', literal)


def _item_hash(item: dict) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()


def scanned_state() -> dict[tuple[str, str], str]:
    """(PK, SK) -> hash of the whole item, from a paginated boto3 Scan of the table."""
    client = boto3.client("dynamodb")
    state = {}
    for page in client.get_paginator("scan").paginate(TableName=os.environ["TABLE_NAME"],
                                                      ConsistentRead=True):
        for item in page["Items"]:
            state[(item["PK"]["S"], item["SK"]["S"])] = _item_hash(item)
    return state


def table_state() -> dict[tuple[str, str], str]:
    """(PK, SK) -> hash of the whole item, for every item in the table.

    conftest's moto server runs in this process, so the items are read from its backend: the
    same items, in the same DynamoDB JSON, that a Scan returns (the first test below proves
    it), without moto serialising every attribute value of every item over HTTP, which costs
    up to a second per Scan and would make this module run for minutes. If the table is not
    in this process, a real Scan is used.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    region = os.environ["AWS_DEFAULT_REGION"]
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables.get(os.environ["TABLE_NAME"])
    if table is None:
        return scanned_state()
    state = {}
    for stored in table.all_items():
        item = stored.to_json()["Attributes"]
        state[(item["PK"]["S"], item["SK"]["S"])] = _item_hash(item)
    return state


def assert_same_table(before: dict, after: dict) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), (
        f"bad input wrote to the table: added {added}, removed {removed}, changed {changed}")


def test_snapshots_see_what_a_scan_sees(api, known):
    # Given the table with this module's objects in it
    # When it is read both ways
    # Then the snapshot used around each request equals a boto3 Scan, item for item
    assert table_state() == scanned_state()
    assert any(pk == f"TEAM#{known['<team>']}" for pk, _ in table_state())


def test_snapshots_see_a_change_in_place(api, known):
    # Given a team of its own
    team_id = api.new_team()["team_id"]
    before = table_state()
    # When it is blocked (the team item changes, an audit record is added)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    after = table_state()
    # Then the snapshots differ on the team item itself, not only by the new record
    team_key = (f"TEAM#{team_id}", "TEAM")
    assert team_key in before and before[team_key] != after[team_key]
    assert set(after) > set(before)


def send(api, known, method: str, path: str, *, body: Any = None, raw: Any = None,
         query: Any = None, key: str | None = MASTER_KEY):
    """One request, with the table checked unchanged around it."""
    raw = fill(raw, known) if isinstance(raw, str) else raw
    before = table_state()
    reply = api.call(method, path, body=fill(body, known), raw_body=raw,
                     query=fill(query, known), key=key)
    assert_same_table(before, table_state())
    return reply


def assert_clear_error(reply, status: int):
    """The status asked for, in the API's error shape, with a message and no traceback."""
    assert reply.status == status, reply
    assert 400 <= reply.status <= 499
    content_type = {k.lower(): v for k, v in reply.headers.items()}.get("content-type")
    assert content_type == "application/json", reply.headers
    text = json.dumps(reply.body)
    assert "Traceback" not in text and 'File "' not in text, text
    assert len(text) < 4096, "the error echoes the request back"
    assert isinstance(reply.body, dict) and set(reply.body) == {"detail"}, reply.body
    detail = reply.body["detail"]
    if isinstance(detail, dict):
        assert set(detail) == {"error"}, detail
        assert isinstance(detail["error"], str) and detail["error"].strip(), detail
    else:
        assert isinstance(detail, list) and detail, detail
        for error in detail:
            assert set(error) == {"loc", "msg", "type"}, error
            assert isinstance(error["loc"], list) and error["loc"], error
            assert isinstance(error["msg"], str) and error["msg"].strip(), error
            assert isinstance(error["type"], str) and error["type"].strip(), error
    return detail


def error_message(reply, status: int) -> str:
    detail = assert_clear_error(reply, status)
    assert isinstance(detail, dict), f"expected {{'error': ...}}, got {detail!r}"
    return detail["error"]


def validation_errors(reply) -> list[dict]:
    detail = assert_clear_error(reply, 422)
    assert isinstance(detail, list), f"expected a list of validation errors, got {detail!r}"
    return detail


def assert_names_field(reply, field: str) -> None:
    """A 422 points at the field that is wrong."""
    locations = [error["loc"] for error in validation_errors(reply)]
    assert any(field in location for location in locations), (field, locations)


def route_cases(routes, cases):
    return [pytest.param(route, *values, id=f"{route} {case_id}")
            for route in routes for case_id, *values in cases]


# --- bodies that are not a JSON object --------------------------------------------------

UNREADABLE_BODIES = [
    ("not UTF-8", b"\xff\xfe\x00"),
    ("latin-1 text", '{"team_alias": "café"}'.encode("latin-1")),
    ("invalid JSON", "{"),
    ("truncated JSON", '{"team_id": "x"'),
    ("trailing garbage", '{} {}'),
    ("single quotes", "{'team_id': 'x'}"),
    ("form encoded", "team_id=x&team_alias=y"),
    ("empty body", ""),
    ("JSON null", "null"),
    ("JSON array", '[{"team_id": "<team>"}]'),
    ("JSON string", '"<team>"'),
    ("JSON number", "42"),
    ("JSON true", "true"),
    ("10000 nested arrays", "[" * 10000 + "]" * 10000),
    ("10000 nested objects", '{"a":' * 10000 + "1" + "}" * 10000),
]


@pytest.mark.parametrize(("route", "raw"), route_cases(POST_ROUTES, UNREADABLE_BODIES))
def test_a_body_that_is_not_a_json_object_is_422(api, known, route, raw):
    # Given a body that is not a readable JSON object
    # When it is posted with the master key
    reply = send(api, known, "POST", route, raw=raw)
    # Then it is a request-shape error pointing at the body, and nothing is written
    assert validation_errors(reply)[0]["loc"][0] == "body"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
@pytest.mark.parametrize("route", POST_ROUTES)
def test_no_body_under_any_content_type_is_422(api, known, route, content_type):
    # Given a POST without a body, labelled as something other than JSON (or not at all)
    headers = {"content-type": content_type} if content_type else {}
    before = table_state()
    reply = api.call("POST", route, headers=headers)
    # Then it is the request-shape error of a missing body, never a 500; nothing is written
    assert_same_table(before, table_state())
    assert reply.status == 422, reply
    assert validation_errors(reply)[0]["loc"][0] == "body"


@pytest.mark.parametrize("route", POST_ROUTES)
def test_a_valid_body_wrapped_in_an_array_is_422(api, known, route):
    # Given a body that would be accepted as an object, sent as a one-element JSON array
    raw = json.dumps([VALID_BODY[route]])
    # When it is posted (for /team/delete and /key/delete it names the module's own objects)
    reply = send(api, known, "POST", route, raw=raw)
    # Then the array is refused as a whole, not read as its first element; nothing is written
    assert validation_errors(reply)[0]["loc"][0] == "body"


HUGE_BODIES = [
    ("ASCII over 1 MiB", lambda body: json.dumps(body | {"pad": "a" * MIB})),
    ("UTF-8 over 1 MiB in bytes", lambda body: json.dumps(body | {"pad": "é" * (MIB // 2 + 8)},
                                                          ensure_ascii=False)),
    ("1 MiB of whitespace", lambda body: " " * MIB + json.dumps(body)),
]


@pytest.mark.parametrize(("route", "make"), route_cases(POST_ROUTES, HUGE_BODIES))
def test_a_body_over_one_mebibyte_is_413(api, known, route, make):
    # Given an otherwise valid body larger than 1 MiB
    raw = make(VALID_BODY[route])
    assert len(raw.encode()) > MIB
    # When it is posted
    reply = send(api, known, "POST", route, raw=raw)
    # Then it is refused as too large, and nothing is written
    assert "larger" in error_message(reply, 413)


def nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"nested": value}
    return value


@pytest.mark.parametrize("route", POST_ROUTES)
def test_a_field_nested_40_levels_deep_is_422(api, known, route):
    # Given a valid body whose metadata (or an ignored extra field) nests 40 objects deep
    field = "metadata" if route in ROUTES_WITH_METADATA else "extra"
    body = VALID_BODY[route] | {field: nested(40)}
    # When it is posted
    reply = send(api, known, "POST", route, body=body)
    # Then the depth is refused before anything is stored
    assert "nested" in validation_errors(reply)[0]["msg"]


# --- wrong types, missing fields, bad ids (422) --------------------------------------------

WRONG_TYPES = [
    ("/team/new", "team_id int", {"team_id": 123}, "team_id"),
    ("/team/new", "team_id list", {"team_id": ["a"]}, "team_id"),
    ("/team/new", "team_alias list", {"team_alias": ["x"]}, "team_alias"),
    ("/team/new", "organization_id int", {"organization_id": 7}, "organization_id"),
    ("/team/new", "members_with_roles string", {"members_with_roles": "a@example.com"},
     "members_with_roles"),
    ("/team/new", "member role unknown",
     {"members_with_roles": [{"user_id": "<user>", "role": "owner"}]}, "role"),
    ("/team/new", "member user_id int", {"members_with_roles": [{"user_id": 5}]}, "user_id"),
    ("/team/new", "member email invalid",
     {"members_with_roles": [{"user_email": "not-an-email"}]}, "user_email"),
    ("/team/new", "member not an object", {"members_with_roles": ["<user>"]},
     "members_with_roles"),
    ("/team/new", "21 members",
     {"members_with_roles": [{"user_id": f"m{i}"} for i in range(21)]}, "members_with_roles"),
    ("/team/new", "metadata string", {"metadata": "x"}, "metadata"),
    ("/team/new", "metadata list", {"metadata": [1]}, "metadata"),
    ("/team/new", "metadata number 1e300", {"metadata": {"x": 1e300}}, "metadata"),
    ("/team/new", "metadata 40-digit int", {"metadata": {"x": 10**40}}, "metadata"),
    ("/team/new", "max_budget string", {"max_budget": "lots"}, "max_budget"),
    ("/team/new", "max_budget object", {"max_budget": {"usd": 1}}, "max_budget"),
    ("/team/new", "tpm_limit string", {"tpm_limit": "many"}, "tpm_limit"),
    ("/team/new", "rpm_limit list", {"rpm_limit": [1]}, "rpm_limit"),
    ("/team/new", "max_parallel_requests string", {"max_parallel_requests": "x"},
     "max_parallel_requests"),
    ("/team/new", "budget_duration int", {"budget_duration": 30}, "budget_duration"),
    ("/team/new", "models string", {"models": "gpt-4"}, "models"),
    ("/team/new", "models int items", {"models": [1]}, "models"),
    ("/team/new", "models empty name", {"models": [""]}, "models"),
    ("/team/new", "blocked string", {"blocked": "maybe"}, "blocked"),
    ("/team/new", "tags string", {"tags": "prod"}, "tags"),
    ("/team/new", "guardrails object", {"guardrails": {"a": 1}}, "guardrails"),
    ("/team/new", "model_aliases string", {"model_aliases": "x"}, "model_aliases"),
    ("/team/update", "team_id int", {"team_id": 123, "team_alias": "x"}, "team_id"),
    ("/team/update", "team_id null", {"team_id": None, "team_alias": "x"}, "team_id"),
    ("/team/update", "team_id list", {"team_id": ["<team>"], "team_alias": "x"}, "team_id"),
    ("/team/update", "max_budget string", {"team_id": "<team>", "max_budget": "x"},
     "max_budget"),
    ("/team/update", "tpm_limit string", {"team_id": "<team>", "tpm_limit": "x"}, "tpm_limit"),
    ("/team/update", "metadata string", {"team_id": "<team>", "metadata": "x"}, "metadata"),
    ("/team/update", "models string", {"team_id": "<team>", "models": "gpt-4"}, "models"),
    ("/team/update", "blocked string", {"team_id": "<team>", "blocked": "maybe"}, "blocked"),
    ("/team/update", "budget_duration int", {"team_id": "<team>", "budget_duration": 30},
     "budget_duration"),
    ("/team/update", "team_alias object", {"team_id": "<team>", "team_alias": {"a": 1}},
     "team_alias"),
    ("/team/delete", "team_ids string", {"team_ids": "<team>"}, "team_ids"),
    ("/team/delete", "team_ids int items", {"team_ids": [123]}, "team_ids"),
    ("/team/delete", "team_ids null", {"team_ids": None}, "team_ids"),
    ("/team/delete", "team_ids object", {"team_ids": {"<team>": True}}, "team_ids"),
    ("/team/delete", "41 team_ids", {"team_ids": ["<team>"] + [f"t{i}" for i in range(40)]},
     "team_ids"),
    ("/team/block", "team_id int", {"team_id": 123}, "team_id"),
    ("/team/block", "team_id null", {"team_id": None}, "team_id"),
    ("/team/block", "team_id list", {"team_id": ["<team>"]}, "team_id"),
    ("/team/unblock", "team_id int", {"team_id": 123}, "team_id"),
    ("/team/unblock", "team_id null", {"team_id": None}, "team_id"),
    ("/team/unblock", "team_id list", {"team_id": ["<team>"]}, "team_id"),
    ("/user/new", "user_id int", {"user_id": 123}, "user_id"),
    ("/user/new", "user_email invalid", {"user_email": "not-an-email"}, "user_email"),
    ("/user/new", "user_email int", {"user_email": 5}, "user_email"),
    ("/user/new", "user_role unknown", {"user_role": "superuser"}, "user_role"),
    ("/user/new", "user_role wrong case", {"user_role": "PROXY_ADMIN"}, "user_role"),
    ("/user/new", "max_budget string", {"max_budget": "x"}, "max_budget"),
    ("/user/new", "budget_duration int", {"budget_duration": 7}, "budget_duration"),
    ("/user/new", "teams string", {"teams": "<team>"}, "teams"),
    ("/user/new", "teams int items", {"teams": [5]}, "teams"),
    ("/user/new", "models string", {"models": "gpt-4"}, "models"),
    ("/user/new", "metadata list", {"metadata": []}, "metadata"),
    ("/key/generate", "team_id int", {"team_id": 123}, "team_id"),
    ("/key/generate", "user_id int", {"user_id": 123}, "user_id"),
    ("/key/generate", "key_alias list", {"team_id": "<team>", "key_alias": ["x"]}, "key_alias"),
    ("/key/generate", "models string", {"team_id": "<team>", "models": "gpt-4"}, "models"),
    ("/key/generate", "max_budget string", {"team_id": "<team>", "max_budget": "x"},
     "max_budget"),
    ("/key/generate", "budget_duration int", {"team_id": "<team>", "budget_duration": 1},
     "budget_duration"),
    ("/key/generate", "duration int", {"team_id": "<team>", "duration": 30}, "duration"),
    ("/key/generate", "metadata string", {"team_id": "<team>", "metadata": "x"}, "metadata"),
    ("/key/delete", "keys string", {"keys": "<key>"}, "keys"),
    ("/key/delete", "keys int items", {"keys": [5]}, "keys"),
    ("/key/delete", "keys null", {"keys": None}, "keys"),
    ("/key/delete", "keys empty string", {"keys": [""]}, "keys"),
    ("/key/delete", "34 keys", {"keys": ["<key>"] + [f"sk-{i}" for i in range(33)]}, "keys"),
    ("/team/member_add", "team_id int", {"team_id": 1, "member": {"user_id": "<outsider>"}},
     "team_id"),
    ("/team/member_add", "member string", {"team_id": "<team>", "member": "<outsider>"},
     "member"),
    ("/team/member_add", "member list of strings",
     {"team_id": "<team>", "member": ["<outsider>"]}, "member"),
    ("/team/member_add", "member role unknown",
     {"team_id": "<team>", "member": {"user_id": "<outsider>", "role": "owner"}}, "role"),
    ("/team/member_add", "member user_id int", {"team_id": "<team>", "member": {"user_id": 5}},
     "user_id"),
    ("/team/member_add", "member email invalid",
     {"team_id": "<team>", "member": {"user_email": "not-an-email"}}, "user_email"),
    ("/team/member_add", "25 members", {"team_id": "<team>", "member": [
        {"user_id": "<outsider>"}] + [{"user_id": f"m{i}"} for i in range(24)]}, "member"),
    ("/team/member_add", "max_budget_in_team string",
     {"team_id": "<team>", "member": {"user_id": "<outsider>"}, "max_budget_in_team": "x"},
     "max_budget_in_team"),
    ("/team/member_add", "budget_duration int",
     {"team_id": "<team>", "member": {"user_id": "<outsider>"}, "budget_duration": 7},
     "budget_duration"),
    ("/team/bulk_member_add", "members string", {"team_id": "<team>", "members": "<outsider>"},
     "members"),
    ("/team/bulk_member_add", "members not objects",
     {"team_id": "<team>", "members": ["<outsider>"]}, "members"),
    ("/team/bulk_member_add", "member role unknown",
     {"team_id": "<team>", "members": [{"user_id": "<outsider>", "role": "owner"}]}, "role"),
    ("/team/bulk_member_add", "max_budget_in_team string",
     {"team_id": "<team>", "members": [{"user_id": "<outsider>"}], "max_budget_in_team": "x"},
     "max_budget_in_team"),
    ("/team/bulk_member_add", "team_id null",
     {"team_id": None, "members": [{"user_id": "<outsider>"}]}, "team_id"),
    ("/team/member_delete", "team_id int", {"team_id": 1, "user_id": "<user>"}, "team_id"),
    ("/team/member_delete", "user_id list", {"team_id": "<team>", "user_id": ["<user>"]},
     "user_id"),
    ("/team/member_delete", "user_email invalid",
     {"team_id": "<team>", "user_email": "not-an-email"}, "user_email"),
    ("/team/member_update", "role unknown", {"team_id": "<team>", "user_id": "<user>",
                                             "role": "owner"}, "role"),
    ("/team/member_update", "role int", {"team_id": "<team>", "user_id": "<user>", "role": 1},
     "role"),
    ("/team/member_update", "max_budget_in_team string",
     {"team_id": "<team>", "user_id": "<user>", "max_budget_in_team": "x"},
     "max_budget_in_team"),
    ("/team/member_update", "budget_duration int",
     {"team_id": "<team>", "user_id": "<user>", "budget_duration": 30}, "budget_duration"),
    ("/team/member_update", "user_id int", {"team_id": "<team>", "user_id": 5}, "user_id"),
    *[(route, case_id, {"team_id": "<team>"} | body, "models")
      for route in ("/team/model/add", "/team/model/delete")
      for case_id, body in (("models string", {"models": "gpt-4o"}),
                            ("models int items", {"models": [1]}),
                            ("models empty name", {"models": [""]}),
                            ("models null", {"models": None}),
                            ("1001 models", {"models": [f"m{i}" for i in range(1001)]}))],
    ("/team/model/add", "team_id int", {"team_id": 1, "models": ["m"]}, "team_id"),
    *[(route, f"team_member_permissions {case_id}",
       ({"team_id": "<team>"} if route != "/team/new" else {}) | {"team_member_permissions": value},
       "team_member_permissions")
      for route in ("/team/new", "/team/update", "/team/permissions_update")
      for case_id, value in (("unknown route", ["/key/info", "/team/delete"]),
                             ("a string", "/key/info"), ("int items", [1]),
                             ("7 routes", ["/key/info"] * 7))],
    ("/team/permissions_update", "team_member_permissions null",
     {"team_id": "<team>", "team_member_permissions": None}, "team_member_permissions"),
    ("/team/permissions_update", "team_id int",
     {"team_id": 5, "team_member_permissions": []}, "team_id"),
    ("/user/update", "user_id int", {"user_id": 5, "metadata": {}}, "user_id"),
    ("/user/update", "user_email invalid", {"user_id": "<outsider>", "user_email": "x"},
     "user_email"),
    ("/user/update", "user_role unknown", {"user_id": "<outsider>", "user_role": "root"},
     "user_role"),
    ("/user/update", "max_budget string", {"user_id": "<outsider>", "max_budget": "x"},
     "max_budget"),
    ("/user/update", "budget_duration int", {"user_id": "<outsider>", "budget_duration": 30},
     "budget_duration"),
    ("/user/update", "models string", {"user_id": "<outsider>", "models": "gpt-4o"}, "models"),
    ("/user/update", "metadata list", {"user_id": "<outsider>", "metadata": [1]}, "metadata"),
    ("/user/delete", "user_ids string", {"user_ids": "<outsider>"}, "user_ids"),
    ("/user/delete", "user_ids int items", {"user_ids": [5]}, "user_ids"),
    ("/user/delete", "41 user_ids",
     {"user_ids": ["<outsider>"] + [f"u{i}" for i in range(40)]}, "user_ids"),
]


@pytest.mark.parametrize(("route", "body", "field"), [
    pytest.param(route, body, field, id=f"{route} {case_id}")
    for route, case_id, body, field in WRONG_TYPES])
def test_a_field_of_the_wrong_type_is_422(api, known, route, body, field):
    # Given a body with one field of the wrong type (the rest valid)
    # When it is posted
    reply = send(api, known, "POST", route, body=body)
    # Then the 422 names that field, and nothing is written
    assert_names_field(reply, field)


NON_FINITE_LIMITS = [
    (route, f"{field} {literal}", field, literal)
    for route in ROUTES_WITH_LIMITS
    for field in ("tpm_limit", "rpm_limit", "max_parallel_requests")
    for literal in ("NaN", "Infinity", "1e300", "1.5")
]


@pytest.mark.parametrize(("route", "field", "literal"), [
    pytest.param(route, field, literal, id=f"{route} {case_id}")
    for route, case_id, field, literal in NON_FINITE_LIMITS])
def test_a_limit_that_is_not_finite_is_400(api, known, route, field, literal):
    # Given a request limit sent as NaN, Infinity or 1e300
    raw = with_literal(VALID_BODY[route], field, literal)
    # When it is posted
    reply = send(api, known, "POST", route, raw=raw)
    # Then it is a business-rule error naming the field (docs/api.md: "400 negative/NaN budget or
    # limits"), and nothing is written
    assert field in error_message(reply, 400)


MISSING_FIELDS = [
    ("/team/update", "no team_id", {"team_alias": "x"}, "team_id"),
    ("/team/update", "empty object", {}, "team_id"),
    ("/team/block", "no team_id", {"team_ids": ["<team>"]}, "team_id"),
    ("/team/block", "empty object", {}, "team_id"),
    ("/team/unblock", "no team_id", {"team_ids": ["<team>"]}, "team_id"),
    ("/team/unblock", "empty object", {}, "team_id"),
    ("/team/delete", "no team_ids", {"team_id": "<team>"}, "team_ids"),
    ("/team/delete", "empty object", {}, "team_ids"),
    ("/team/delete", "empty team_ids", {"team_ids": []}, "team_ids"),
    ("/key/delete", "no keys", {"key": "<key>"}, "keys"),
    ("/key/delete", "empty object", {}, "keys"),
    ("/key/delete", "empty keys", {"keys": []}, "keys"),
    ("/team/member_add", "no team_id", {"member": {"user_id": "<outsider>"}}, "team_id"),
    ("/team/member_add", "no member", {"team_id": "<team>"}, "member"),
    ("/team/member_add", "empty member list", {"team_id": "<team>", "member": []}, "member"),
    ("/team/member_add", "empty object", {}, "team_id"),
    ("/team/bulk_member_add", "no team_id", {"members": [{"user_id": "<outsider>"}]},
     "team_id"),
    ("/team/member_delete", "no team_id", {"user_id": "<user>"}, "team_id"),
    ("/team/member_update", "no team_id", {"user_id": "<user>", "role": "admin"}, "team_id"),
    ("/team/model/add", "no models", {"team_id": "<team>"}, "models"),
    ("/team/model/add", "empty models", {"team_id": "<team>", "models": []}, "models"),
    ("/team/model/delete", "no team_id", {"models": ["gpt-4o"]}, "team_id"),
    ("/user/delete", "no user_ids", {"user_id": "<outsider>"}, "user_ids"),
    ("/user/delete", "empty user_ids", {"user_ids": []}, "user_ids"),
]


@pytest.mark.parametrize(("route", "body", "field"), [
    pytest.param(route, body, field, id=f"{route} {case_id}")
    for route, case_id, body, field in MISSING_FIELDS])
def test_a_missing_required_field_is_422(api, known, route, body, field):
    # Given a body without a required field, or with an empty list where one is needed
    # When it is posted
    reply = send(api, known, "POST", route, body=body)
    # Then the 422 names the missing field, and nothing is written
    assert_names_field(reply, field)


LONG_ID = "t" * 257
BAD_IDS = [
    ("/team/new", "team_id with NUL", {"team_id": "a\x00b"}, "team_id"),
    ("/team/new", "team_id with newline", {"team_id": "a\nb"}, "team_id"),
    ("/team/new", "team_id with DEL", {"team_id": "ab\x7f"}, "team_id"),
    ("/team/new", "team_id empty", {"team_id": ""}, "team_id"),
    ("/team/new", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/team/new", "organization_id with NUL", {"organization_id": "\x00"}, "organization_id"),
    ("/team/new", "member user_id with tab",
     {"members_with_roles": [{"user_id": "a\tb"}]}, "user_id"),
    ("/team/new", "member user_id 257 chars",
     {"members_with_roles": [{"user_id": LONG_ID}]}, "user_id"),
    ("/team/update", "team_id with NUL", {"team_id": "<team>\x00", "team_alias": "x"},
     "team_id"),
    ("/team/update", "team_id 257 chars", {"team_id": LONG_ID, "team_alias": "x"}, "team_id"),
    ("/team/update", "team_id empty", {"team_id": "", "team_alias": "x"}, "team_id"),
    ("/team/delete", "team_id with NUL next to a real one", {"team_ids": ["<team>", "a\x00"]},
     "team_ids"),
    ("/team/delete", "team_id 257 chars next to a real one", {"team_ids": ["<team>", LONG_ID]},
     "team_ids"),
    ("/team/delete", "team_id empty", {"team_ids": [""]}, "team_ids"),
    ("/team/block", "team_id with NUL", {"team_id": "<team>\x00"}, "team_id"),
    ("/team/block", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/team/unblock", "team_id with NUL", {"team_id": "<team>\x00"}, "team_id"),
    ("/team/unblock", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/user/new", "user_id with NUL", {"user_id": "u\x00"}, "user_id"),
    ("/user/new", "user_id with escape", {"user_id": "u\x1b[31m"}, "user_id"),
    ("/user/new", "user_id 257 chars", {"user_id": LONG_ID}, "user_id"),
    ("/user/new", "user_id empty", {"user_id": ""}, "user_id"),
    ("/user/new", "team id with NUL", {"teams": ["<team>\x00"]}, "teams"),
    ("/user/new", "user_email 321 chars", {"user_email": "a" * 309 + "@example.com"},
     "user_email"),
    ("/key/generate", "user_id with NUL", {"user_id": "<user>\x00"}, "user_id"),
    ("/key/generate", "team_id with NUL", {"team_id": "<team>\x00"}, "team_id"),
    ("/key/generate", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/key/generate", "key_alias 1025 chars", {"team_id": "<team>", "key_alias": "k" * 1025},
     "key_alias"),
    ("/key/delete", "key 513 chars", {"keys": ["sk-" + "k" * 510]}, "keys"),
    ("/team/member_add", "team_id with NUL",
     {"team_id": "<team>\x00", "member": {"user_id": "<outsider>"}}, "team_id"),
    ("/team/member_add", "team_id 257 chars",
     {"team_id": LONG_ID, "member": {"user_id": "<outsider>"}}, "team_id"),
    ("/team/member_add", "member user_id with tab",
     {"team_id": "<team>", "member": {"user_id": "a\tb"}}, "user_id"),
    ("/team/bulk_member_add", "member user_id with NUL next to a real one",
     {"team_id": "<team>", "members": [{"user_id": "<outsider>"}, {"user_id": "a\x00"}]},
     "user_id"),
    ("/team/member_delete", "user_id with NUL", {"team_id": "<team>", "user_id": "<user>\x00"},
     "user_id"),
    ("/team/member_delete", "team_id 257 chars", {"team_id": LONG_ID, "user_id": "<user>"},
     "team_id"),
    ("/team/member_update", "user_id 257 chars", {"team_id": "<team>", "user_id": LONG_ID},
     "user_id"),
    ("/team/model/add", "team_id with NUL", {"team_id": "<team>\x00", "models": ["m"]},
     "team_id"),
    ("/team/model/delete", "model name 513 chars",
     {"team_id": "<team>", "models": ["gpt-4o", "m" * 513]}, "models"),
    ("/user/update", "user_id with NUL", {"user_id": "<outsider>\x00", "metadata": {}},
     "user_id"),
    ("/user/update", "user_id 257 chars", {"user_id": LONG_ID, "metadata": {}}, "user_id"),
    ("/user/delete", "user_id with NUL next to a real one",
     {"user_ids": ["<outsider>", "a\x00"]}, "user_ids"),
]


@pytest.mark.parametrize(("route", "body", "field"), [
    pytest.param(route, body, field, id=f"{route} {case_id}")
    for route, case_id, body, field in BAD_IDS])
def test_an_id_with_control_characters_or_too_long_is_422(api, known, route, body, field):
    # Given a body naming an id with control characters, empty or over-long
    # When it is posted
    reply = send(api, known, "POST", route, body=body)
    # Then the 422 names the field, and nothing is written
    assert_names_field(reply, field)


# --- business rules on numbers and durations (400) ---------------------------------------

BAD_BUDGETS = [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"),
               ("-1", "-1"), ("-0.01", "-0.01"), ("1e300", "1e300"),
               ("1e400 (parses as inf)", "1e400"), ("1e16 (over the cap)", "1e16"),
               ("2.7e-199 (below DynamoDB's smallest number)", "2.7e-199")]


@pytest.mark.parametrize(("route", "literal"), route_cases(ROUTES_WITH_BUDGET, BAD_BUDGETS))
def test_a_negative_or_non_finite_budget_is_400(api, known, route, literal):
    # Given a max_budget that is negative, NaN, infinite, absurdly large or absurdly small
    field = BUDGET_FIELD.get(route, "max_budget")
    raw = with_literal(VALID_BODY[route], field, literal)
    # When it is posted
    reply = send(api, known, "POST", route, raw=raw)
    # Then it is a business-rule error naming the field, and nothing is written
    assert field in error_message(reply, 400)


BAD_LIMITS = [(f"{field} {value}", field, value)
              for field in ("tpm_limit", "rpm_limit", "max_parallel_requests")
              for value in (-1, 10**16)]


@pytest.mark.parametrize(("route", "field", "value"), route_cases(ROUTES_WITH_LIMITS, BAD_LIMITS))
def test_a_negative_or_absurd_limit_is_400(api, known, route, field, value):
    # Given a tpm/rpm/parallel limit that is negative or beyond any real traffic
    body = VALID_BODY[route] | {field: value}
    # When it is posted
    reply = send(api, known, "POST", route, body=body)
    # Then it is a business-rule error naming the field, and nothing is written
    assert field in error_message(reply, 400)


BAD_DURATIONS = [
    ("30days", "30days"), ("0d", "0d"), ("1y", "1y"), ("mo", "mo"), ("-1d", "-1d"),
    ("101000d", "101000d"), ("1201mo", "1201mo"), ("empty", ""), ("1.5h", "1.5h"),
    ("leading space", " 1d"), ("trailing space", "1d "), ("trailing newline", "1d\n"),
    ("upper case", "1D"), ("fullwidth digit", "\uff11d"), ("space inside", "1 d"),
    ("00s", "00s"), ("0mo", "0mo"), ("99999999d", "99999999d"), ("ISO 8601", "P1D"),
]
DURATION_FIELDS = [(route, field) for route in ROUTES_WITH_DURATION
                   for field in ("budget_duration",)] + [
    ("/key/generate", "duration"), ("/key/update", "duration"),
    ("/key/regenerate", "grace_period")]


@pytest.mark.parametrize(("route", "field", "value"), [
    pytest.param(route, field, value, id=f"{route} {field} {case_id}")
    for route, field in DURATION_FIELDS for case_id, value in BAD_DURATIONS])
def test_a_bad_duration_is_400(api, known, route, field, value):
    # Given a duration outside ^\d+(s|m|h|d|w|mo)$, zero, or over 100 years
    body = VALID_BODY[route] | {field: value}
    # When it is posted
    reply = send(api, known, "POST", route, body=body)
    # Then it is a business-rule error that names the field that is wrong
    message = error_message(reply, 400)
    assert f"Invalid {field} " in message, message


# --- unknown ids (404 for an admin) -------------------------------------------------------

UNKNOWN = "no-such-" + uuid.uuid4().hex
UNKNOWN_IDS = [
    ("GET", "/team/info", "unknown team", {"query": {"team_id": UNKNOWN}}, UNKNOWN),
    ("GET", "/team/members", "unknown team", {"query": {"team_id": UNKNOWN}}, UNKNOWN),
    ("GET", "/user/info", "unknown user", {"query": {"user_id": UNKNOWN}}, UNKNOWN),
    ("GET", "/key/info", "unknown token", {"query": {"key": UNKNOWN_TOKEN}}, None),
    ("GET", "/key/info", "unknown raw key", {"query": {"key": "sk-" + UNKNOWN}}, None),
    ("GET", "/key/info", "not a key at all", {"query": {"key": UNKNOWN}}, None),
    ("POST", "/team/update", "unknown team", {"body": {"team_id": UNKNOWN, "team_alias": "x"}},
     UNKNOWN),
    ("POST", "/team/block", "unknown team", {"body": {"team_id": UNKNOWN}}, UNKNOWN),
    ("POST", "/team/unblock", "unknown team", {"body": {"team_id": UNKNOWN}}, UNKNOWN),
    ("POST", "/team/delete", "unknown team", {"body": {"team_ids": [UNKNOWN]}}, UNKNOWN),
    ("POST", "/key/delete", "unknown token", {"body": {"keys": [UNKNOWN_TOKEN]}}, None),
    ("POST", "/key/delete", "unknown raw key", {"body": {"keys": ["sk-" + UNKNOWN]}}, None),
    ("POST", "/key/delete", "not a key at all", {"body": {"keys": [UNKNOWN]}}, None),
    ("POST", "/key/generate", "unknown team", {"body": {"team_id": UNKNOWN}}, UNKNOWN),
    ("POST", "/user/new", "unknown team", {"body": {"teams": [UNKNOWN]}}, UNKNOWN),
    ("POST", "/team/member_add", "unknown team",
     {"body": {"team_id": UNKNOWN, "member": {"user_id": "<outsider>"}}}, UNKNOWN),
    ("POST", "/team/bulk_member_add", "unknown team",
     {"body": {"team_id": UNKNOWN, "members": [{"user_id": "<outsider>"}]}}, UNKNOWN),
    ("POST", "/team/member_delete", "unknown team",
     {"body": {"team_id": UNKNOWN, "user_id": "<user>"}}, UNKNOWN),
    ("POST", "/team/member_update", "unknown team",
     {"body": {"team_id": UNKNOWN, "user_id": "<user>", "role": "admin"}}, UNKNOWN),
    ("POST", "/team/model/add", "unknown team",
     {"body": {"team_id": UNKNOWN, "models": ["m"]}}, UNKNOWN),
    ("POST", "/team/model/delete", "unknown team",
     {"body": {"team_id": UNKNOWN, "models": ["gpt-4o"]}}, UNKNOWN),
    ("GET", "/team/permissions_list", "unknown team", {"query": {"team_id": UNKNOWN}}, UNKNOWN),
    ("POST", "/team/permissions_update", "unknown team",
     {"body": {"team_id": UNKNOWN, "team_member_permissions": []}}, UNKNOWN),
    ("POST", "/user/update", "unknown user", {"body": {"user_id": UNKNOWN, "metadata": {}}},
     UNKNOWN),
    ("POST", "/user/update", "an email nobody has",
     {"body": {"user_email": UNKNOWN + "@example.com", "metadata": {}}}, UNKNOWN),
    ("POST", "/user/delete", "unknown user next to a real one",
     {"body": {"user_ids": ["<outsider>", UNKNOWN]}}, UNKNOWN),
]


@pytest.mark.parametrize(("method", "route", "request_", "named"), [
    pytest.param(method, route, request_, named, id=f"{method} {route} {case_id}")
    for method, route, case_id, request_, named in UNKNOWN_IDS])
def test_an_unknown_id_is_404_for_an_admin(api, known, method, route, request_, named):
    # Given an id no object has
    # When the master key names it
    reply = send(api, known, method, route, **request_)
    # Then it is 404, the message names what was not found (never a raw key), nothing written
    message = error_message(reply, 404)
    if named:
        assert named in message, message
    assert "sk-" not in message, message


NOT_MEMBERS = [
    ("/team/member_delete", "unknown user", {"team_id": "<team>", "user_id": UNKNOWN}),
    ("/team/member_delete", "a user who is no member",
     {"team_id": "<team>", "user_id": "<outsider>"}),
    ("/team/member_delete", "an email no member has",
     {"team_id": "<team>", "user_email": "nobody@example.com"}),
    ("/team/member_delete", "neither user_id nor user_email", {"team_id": "<team>"}),
    ("/team/member_update", "unknown user",
     {"team_id": "<team>", "user_id": UNKNOWN, "role": "admin"}),
    ("/team/member_update", "a user who is no member",
     {"team_id": "<team>", "user_id": "<outsider>", "max_budget_in_team": 3}),
]


@pytest.mark.parametrize(("route", "body"), [
    pytest.param(route, body, id=f"{route} {case_id}") for route, case_id, body in NOT_MEMBERS])
def test_a_user_who_is_not_a_member_is_400(api, known, route, body):
    # Given a body naming someone who is not in the module's team (or no one)
    # When it is posted with the master key
    reply = send(api, known, "POST", route, body=body)
    # Then it is a business-rule error, and nothing is written
    error_message(reply, 400)


# --- query strings -------------------------------------------------------------------------

BAD_QUERIES = [
    ("/team/info", "no team_id", None, "team_id"),
    ("/team/info", "other parameter only", {"user_id": "<user>"}, "team_id"),
    ("/team/info", "empty team_id", {"team_id": ""}, "team_id"),
    ("/team/info", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/team/info", "team_id with NUL", {"team_id": "<team>\x00"}, "team_id"),
    ("/team/members", "no team_id", {"cursor": "WzEsInQiLCJ1Il0"}, "team_id"),
    ("/team/members", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/team/members", "cursor 2049 chars", {"team_id": "<team>", "cursor": "A" * 2049},
     "cursor"),
    ("/team/list", "user_id 257 chars", {"user_id": LONG_ID}, "user_id"),
    ("/team/list", "organization_id 257 chars", {"organization_id": LONG_ID},
     "organization_id"),
    ("/v2/team/list", "page 0", {"page": "0"}, "page"),
    ("/v2/team/list", "page not a number", {"page": "two"}, "page"),
    ("/v2/team/list", "page_size 0", {"page_size": "0"}, "page_size"),
    ("/v2/team/list", "page_size 101", {"page_size": "101"}, "page_size"),
    ("/v2/team/list", "page_size 1.5", {"page_size": "1.5"}, "page_size"),
    ("/v2/team/list", "sort_by unknown", {"sort_by": "budget"}, "sort_by"),
    ("/v2/team/list", "sort_order sideways", {"sort_order": "sideways"}, "sort_order"),
    ("/v2/team/list", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/v2/team/list", "cursor over 2048 chars", {"cursor": "c" * 2049}, "cursor"),
    ("/team/filter/ui", "page -1", {"page": "-1"}, "page"),
    ("/team/filter/ui", "page_size 101", {"page_size": "101"}, "page_size"),
    ("/team/filter/ui", "team_alias 513 chars", {"team_alias": "a" * 513}, "team_alias"),
    ("/audit", "limit 0", {"limit": "0"}, "limit"),
    ("/audit", "limit 101", {"limit": "101"}, "limit"),
    ("/audit", "limit not a number", {"limit": "ten"}, "limit"),
    ("/audit", "start not a time", {"start": "yesterday"}, "start"),
    ("/audit", "end not a time", {"end": "2026-13-45T99:00:00Z"}, "end"),
    ("/audit", "unknown table_name", {"table_name": "LiteLLM_SpendLogs"}, "table_name"),
    ("/audit", "unknown action", {"action": "renamed"}, "action"),
    ("/audit", "empty object_id", {"object_id": ""}, "object_id"),
    ("/audit", "cursor over 2048 chars", {"cursor": "c" * 2049}, "cursor"),
    ("/user/info", "user_id 257 chars", {"user_id": LONG_ID}, "user_id"),
    ("/key/info", "key 513 chars", {"key": "sk-" + "k" * 510}, "key"),
    ("/team/permissions_list", "no team_id", {}, "team_id"),
    ("/team/permissions_list", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/key/list", "page 0", {"page": "0"}, "page"),
    ("/key/list", "size 0", {"size": "0"}, "size"),
    ("/key/list", "size 101", {"size": "101"}, "size"),
    ("/key/list", "size not a number", {"size": "ten"}, "size"),
    ("/key/list", "user_id 257 chars", {"user_id": LONG_ID}, "user_id"),
    ("/key/list", "team_id 257 chars", {"team_id": LONG_ID}, "team_id"),
    ("/key/list", "key_alias over 1024 bytes", {"key_alias": "a" * 1025}, "key_alias"),
    ("/key/list", "return_full_object not a boolean", {"return_full_object": "maybe"},
     "return_full_object"),
    ("/user/list", "page 0", {"page": "0"}, "page"),
    ("/user/list", "page_size 0", {"page_size": "0"}, "page_size"),
    ("/user/list", "page_size 101", {"page_size": "101"}, "page_size"),
    ("/user/list", "role unknown", {"role": "root"}, "role"),
    ("/user/list", "user_email over 320 chars", {"user_email": "a" * 321}, "user_email"),
]


@pytest.mark.parametrize(("route", "query", "field"), [
    pytest.param(route, query, field, id=f"{route} {case_id}")
    for route, case_id, query, field in BAD_QUERIES])
def test_a_missing_or_over_long_query_parameter_is_422(api, known, route, query, field):
    # Given a query string without a required parameter, or with an over-long value
    # When the route is read with the master key
    reply = send(api, known, "GET", route, query=query)
    # Then the 422 names the query parameter
    assert_names_field(reply, field)
    assert any(error["loc"][0] == "query" for error in validation_errors(reply))


GET_BODIES = [
    ("JSON object", json.dumps({"team_id": "someone-else"})),
    ("empty body", ""),
    ("invalid JSON", "{"),
    ("not UTF-8", b"\xff\xfe\x00"),
    ("10000 nested arrays", "[" * 10000 + "]" * 10000),
    ("over 1 MiB", " " * (MIB + 1)),
]


@pytest.mark.parametrize("raw", [pytest.param(raw, id=f"/health/liveliness {case_id}")
                                 for case_id, raw in GET_BODIES])
def test_a_body_on_the_liveliness_probe_is_ignored(api, known, raw):
    # Given a liveliness probe that carries a body it has no use for
    # When it is sent without a key
    reply = send(api, known, "GET", "/health/liveliness", raw=raw, key=None)
    # Then the service still answers that it is alive
    assert (reply.status, reply.body) == (200, "I'm alive!")


@pytest.mark.parametrize("raw", [pytest.param(raw, id=f"/team/info {case_id}")
                                 for case_id, raw in GET_BODIES])
def test_a_body_on_a_get_is_ignored(api, known, raw):
    # Given a read whose query names the module's team, with a body (as LiteLLM, ignored)
    # When it is sent with the master key
    reply = send(api, known, "GET", "/team/info", raw=raw, query={"team_id": "<team>"})
    # Then the query alone decides the answer
    assert reply.status == 200, reply
    assert reply.body["team_id"] == known["<team>"]


# --- the order of checks (docs/api.md): 401, 422, 403, 404, 400 -------------------------------

ORDER = [
    *[("POST", route, "invalid JSON and no key", {"raw": "{", "key": None}, 401)
      for route in POST_ROUTES],
    *[("POST", route, "not UTF-8 and an unknown key", {"raw": b"\xff\xfe\x00",
                                                       "key": "sk-unknown"}, 401)
      for route in POST_ROUTES],
    *[("POST", route, "over 1 MiB and no key", {"raw": " " * (MIB + 1), "key": None}, 401)
      for route in POST_ROUTES],
    ("GET", "/team/info", "no team_id and no key", {"key": None}, 401),
    ("GET", "/team/info", "team_id 257 chars and an unknown key",
     {"query": {"team_id": LONG_ID}, "key": "sk-unknown"}, 401),
    ("POST", "/team/update", "unknown team with a wrongly typed budget",
     {"body": {"team_id": UNKNOWN, "max_budget": "x"}}, 422),
    ("POST", "/team/update", "unknown team with a negative budget",
     {"body": {"team_id": UNKNOWN, "max_budget": -1}}, 404),
    ("POST", "/team/update", "unknown team with a bad duration",
     {"body": {"team_id": UNKNOWN, "budget_duration": "30days"}}, 404),
    ("POST", "/key/generate", "unknown team with a bad duration",
     {"body": {"team_id": UNKNOWN, "budget_duration": "30days"}}, 404),
    ("POST", "/key/generate", "unknown team with a NaN budget",
     {"raw": with_literal({"team_id": UNKNOWN}, "max_budget", "NaN")}, 404),
    ("POST", "/team/delete", "unknown and control-character ids",
     {"body": {"team_ids": [UNKNOWN, "a\x00"]}}, 422),
    ("POST", "/team/member_add", "unknown team with a wrongly typed member",
     {"body": {"team_id": UNKNOWN, "member": 5}}, 422),
    ("POST", "/team/member_add", "unknown team with a negative budget and a bad duration",
     {"body": {"team_id": UNKNOWN, "member": {"user_id": "<outsider>"},
               "max_budget_in_team": -1, "budget_duration": "30days"}}, 404),
    ("POST", "/team/member_add", "unknown team and a member already in it elsewhere",
     {"body": {"team_id": UNKNOWN, "member": {"user_id": "<user>"}}}, 404),
    ("POST", "/team/bulk_member_add", "unknown team with 501 members",
     {"body": {"team_id": UNKNOWN, "members": [{"user_id": f"u{i}"} for i in range(501)]}}, 404),
    ("POST", "/team/member_update", "unknown team, unknown user, bad duration",
     {"body": {"team_id": UNKNOWN, "user_id": UNKNOWN, "budget_duration": "30days"}}, 404),
    ("POST", "/team/member_update", "a bad duration for a user who is no member",
     {"body": {"team_id": "<team>", "user_id": "<outsider>", "budget_duration": "1y"}}, 400),
    ("POST", "/user/update", "unknown user with a negative budget and a bad duration",
     {"body": {"user_id": UNKNOWN, "max_budget": -1, "budget_duration": "30days"}}, 404),
    ("POST", "/user/update", "neither user_id nor user_email", {"body": {"metadata": {}}}, 400),
]


@pytest.mark.parametrize(("method", "route", "request_", "status"), [
    pytest.param(method, route, request_, status, id=f"{method} {route} {case_id}")
    for method, route, case_id, request_, status in ORDER])
def test_checks_run_in_the_documented_order(api, known, method, route, request_, status):
    # Given a request that is wrong in two ways
    # When it is sent
    reply = send(api, known, method, route, **request_)
    # Then the check the API orders first decides the answer, and nothing is written
    assert_clear_error(reply, status)


def test_a_duplicate_member_is_refused_only_after_authorization(api, known):
    # Given a plain member of the module's team (not its admin)
    member = api.new_user()
    team_id = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])["team_id"]
    body = {"team_id": team_id, "member": {"user_id": "<user>"}}
    api.ok(api.post("/team/member_add", fill(body, known)))
    # When they add someone who is already in the team
    reply = send(api, known, "POST", "/team/member_add", body=body, key=member["key"])
    # Then it is 403: they learn nothing of the roster
    error_message(reply, 403)


# --- all or nothing -----------------------------------------------------------------------

def test_a_new_team_with_an_ambiguous_member_email_writes_nothing(api, known):
    # Given two users who share one email (stored before an email was one user's)
    shared = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    for _ in range(2):
        user_without_email_item(f"shared-{uuid.uuid4().hex[:8]}", shared)
    team_id = f"ambiguous-{uuid.uuid4().hex[:8]}"
    # When a team is created whose first member is new and whose second is that email
    reply = send(api, known, "POST", "/team/new", body={
        "team_id": team_id, "members_with_roles": [
            {"user_email": f"fresh-{uuid.uuid4().hex[:8]}@example.com"},
            {"user_email": shared, "role": "admin"}]})
    # Then it is refused naming the email; no team, no user, no member, no audit was written
    assert shared in error_message(reply, 400)
    assert api.get("/team/info", query={"team_id": team_id}).status == 404


@pytest.mark.parametrize("members", [
    pytest.param([{"user_id": "<user>"}, {"user_id": "<user>", "role": "admin"}],
                 id="the same user twice"),
    pytest.param([{"user_email": "twice@example.com"}, {"user_email": "twice@example.com"}],
                 id="the same new email twice"),
    pytest.param([{"user_id": "<user>"}, {"role": "admin"}], id="a member without id or email"),
])
def test_a_new_team_with_an_impossible_roster_writes_nothing(api, known, members):
    # Given a roster that cannot be stored as it is
    team_id = f"roster-{uuid.uuid4().hex[:8]}"
    # When a team is created with it
    reply = send(api, known, "POST", "/team/new",
                 body={"team_id": team_id, "members_with_roles": members})
    # Then it is refused with a message; the team does not exist
    error_message(reply, 400)
    assert api.get("/team/info", query={"team_id": team_id}).status == 404


def test_a_duplicate_team_id_changes_nothing(api, known):
    # Given an existing team
    # When a team is created with its id and a new member
    reply = send(api, known, "POST", "/team/new", body={
        "team_id": "<team>", "team_alias": "usurper",
        "members_with_roles": [{"user_id": f"new-{uuid.uuid4().hex[:8]}"}]})
    # Then it is refused; the existing team, its members and no new user are touched
    assert known["<team>"] in error_message(reply, 400)


def test_a_duplicate_user_id_changes_nothing(api, known):
    # Given an existing user
    # When a user is created with their id, another role and a team
    reply = send(api, known, "POST", "/user/new", body={
        "user_id": "<user>", "user_role": "proxy_admin", "teams": ["<team>"]})
    # Then it is refused; no key, membership or role change is written
    assert known["<user>"] in error_message(reply, 400)


def test_deleting_a_known_and_an_unknown_team_deletes_neither(api, known):
    # Given an existing team with a member and a key
    team_id = api.new_team(members_with_roles=[{"user_id": known["<user>"]}])["team_id"]
    api.new_key(team_id=team_id)
    # When it is deleted together with a team that does not exist
    reply = send(api, known, "POST", "/team/delete", body={"team_ids": [team_id, UNKNOWN]})
    # Then it is 404 naming the unknown team, and the existing team is still whole
    assert UNKNOWN in error_message(reply, 404)
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert len(info["keys"]) == 1 and known["<user>"] in {
        m["user_id"] for m in info["team_info"]["members_with_roles"]}


def test_deleting_a_known_and_an_unknown_key_deletes_neither(api, known):
    # Given an existing key
    token = api.new_key(user_id=known["<user>"])["token"]
    # When it is deleted together with a key that does not exist
    reply = send(api, known, "POST", "/key/delete", body={"keys": [token, UNKNOWN_TOKEN]})
    # Then it is 404, and the existing key is still there
    error_message(reply, 404)
    assert api.get("/key/info", query={"key": token}).status == 200


def test_a_key_for_an_unknown_team_writes_no_key_and_no_user(api, known):
    # Given a user id nobody has yet (a key for it would create the user)
    user_id = f"owner-{uuid.uuid4().hex[:8]}"
    # When a key is generated for that user in a team that does not exist
    reply = send(api, known, "POST", "/key/generate",
                 body={"user_id": user_id, "team_id": UNKNOWN, "key_alias": "orphan"})
    # Then it is 404 naming the team, and neither the key nor the user exists
    assert UNKNOWN in error_message(reply, 404)
    assert api.get("/user/info", query={"user_id": user_id}).status == 404


@pytest.mark.parametrize("members", [
    pytest.param([{"user_id": "fresh-<team>"}, {"user_id": "<user>"}],
                 id="a new user and a member already in"),
    pytest.param([{"user_email": "fresh-<team>@example.com"}, {"user_email": "<shared>"}],
                 id="a new email and an email two users share"),
    pytest.param([{"user_id": "<outsider>"}, {"user_id": "<outsider>", "role": "admin"}],
                 id="the same user twice"),
    pytest.param([{"user_id": "<outsider>"}, {"role": "admin"}],
                 id="a member without id or email"),
])
def test_a_member_add_that_cannot_add_everyone_adds_no_one(api, known, members):
    # Given two users who share one email (stored before an email was one user's)
    shared = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    for _ in range(2):
        user_without_email_item(f"shared-{uuid.uuid4().hex[:8]}", shared)
    # When a list is added to the module's team in which one member cannot be added
    reply = send(api, known | {"<shared>": shared}, "POST", "/team/member_add",
                 body={"team_id": "<team>", "member": members})
    # Then it is refused with a message; no member, user or audit record is written
    error_message(reply, 400)


# --- PATCH /team/{team_id}: the team in the path --------------------------------------------

PATCHES = [
    ("invalid JSON", "<team>", {"raw": "{"}, 422),
    ("a JSON array", "<team>", {"raw": '[{"team_alias": "x"}]'}, 422),
    ("max_budget string", "<team>", {"body": {"max_budget": "lots"}}, 422),
    ("metadata nested 40 deep", "<team>", {"body": {"metadata": nested(40)}}, 422),
    ("team_id int in the body", "<team>", {"body": {"team_id": 5}}, 422),
    ("path id with NUL", "<team>\x00", {"body": {"team_alias": "x"}}, 422),
    ("path id 257 chars", LONG_ID, {"body": {"team_alias": "x"}}, 422),
    ("another team_id in the body", "<team>", {"body": {"team_id": UNKNOWN, "team_alias": "x"}},
     400),
    ("negative budget", "<team>", {"body": {"max_budget": -1}}, 400),
    ("bad duration", "<team>", {"body": {"budget_duration": "30days"}}, 400),
    ("unknown team", UNKNOWN, {"body": {"team_alias": "x"}}, 404),
    ("unknown team with a negative budget", UNKNOWN, {"body": {"max_budget": -1}}, 404),
    ("over 1 MiB and no key", "<team>", {"raw": " " * (MIB + 1), "key": None}, 401),
]


@pytest.mark.parametrize(("team_id", "request_", "status"), [
    pytest.param(team_id, request_, status, id=f"PATCH /team/{{team_id}} {case_id}")
    for case_id, team_id, request_, status in PATCHES])
def test_a_bad_patch_of_a_team_is_a_clear_4xx_and_writes_nothing(api, known, team_id,
                                                                  request_, status):
    # Given a PATCH of a team that is wrong in one way (the rest naming the module's team)
    raw = request_.get("raw")
    before = table_state()
    # When it is sent
    reply = api.call("PATCH", "/team/{team_id}", path_params={"team_id": fill(team_id, known)},
                     body=fill(request_.get("body"), known), raw_body=raw,
                     key=request_.get("key", MASTER_KEY))
    # Then the status of its first failed check, in the API's error shape; nothing is written
    assert_same_table(before, table_state())
    assert_clear_error(reply, status)
