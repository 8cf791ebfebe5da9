"""`Idempotency-Key` on POST /team/new, /user/new, /key/generate and /team/bulk_member_add: a
retry answers the first answer and changes nothing more; the same key with another body is a
422; without the header a route behaves as before. The raw key is never in the table."""

import json
import multiprocessing
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import boto3
import pytest

from tests.support.client import Api

WORKERS = 8


def _table():
    return boto3.client("dynamodb"), os.environ["TABLE_NAME"]


def _audit_records(object_id: str) -> int:
    client, table = _table()
    return client.query(TableName=table, KeyConditionExpression="PK = :pk",
                        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{object_id}"}},
                        Select="COUNT")["Count"]


def _whole_table_text() -> str:
    client, table = _table()
    pages = client.get_paginator("scan").paginate(TableName=table)
    return json.dumps([page["Items"] for page in pages])


@dataclass
class Route:
    """One idempotent route: a fresh body, another body, and how many objects it made."""

    path: str
    body: Callable[[Api], dict]
    other_body: Callable[[dict], dict]
    objects: Callable[[Api, dict], int]
    audited_object: Callable[[dict, dict], str]


def _team_body(api: Api) -> dict:
    return {"team_alias": f"idem-{uuid.uuid4().hex[:10]}"}


def _teams_named(api: Api, body: dict) -> int:
    page = api.ok(api.get("/v2/team/list", query={"team_alias": body["team_alias"]}))
    return page["total"]


def _user_body(api: Api) -> dict:
    return {"user_email": f"idem-{uuid.uuid4().hex[:10]}@example.com"}


def _users_with_email(api: Api, body: dict) -> int:
    client, table = _table()
    return client.query(
        TableName=table, IndexName="GSI2", KeyConditionExpression="GSI2PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"EMAIL#{body['user_email']}"}},
        Select="COUNT")["Count"]


def _key_body(api: Api) -> dict:
    return {"user_id": api.new_user()["user_id"], "key_alias": "idem"}


def _keys_of_user(api: Api, body: dict) -> int:
    keys = api.ok(api.get("/user/info", query={"user_id": body["user_id"]}))["keys"]
    return len(keys) - 1  # the one /user/new made


def _bulk_body(api: Api) -> dict:
    return {"team_id": api.new_team()["team_id"],
            "members": [{"user_id": f"idem-{uuid.uuid4().hex[:10]}", "role": "user"}]}


def _members_of_team(api: Api, body: dict) -> int:
    info = api.ok(api.get("/team/info", query={"team_id": body["team_id"]}))
    return len(info["team_info"]["members_with_roles"]) - 1  # the master key's admin


ROUTES = {
    "team_new": Route("/team/new", _team_body, lambda b: b | {"team_alias": b["team_alias"] + "x"},
                      _teams_named, lambda body, answer: answer["team_id"]),
    "user_new": Route("/user/new", _user_body, lambda b: b | {"user_email": "x" + b["user_email"]},
                      _users_with_email, lambda body, answer: answer["user_id"]),
    "key_generate": Route("/key/generate", _key_body, lambda b: b | {"key_alias": "other"},
                          _keys_of_user, lambda body, answer: answer["token"]),
    "bulk_member_add": Route(
        "/team/bulk_member_add", _bulk_body,
        lambda b: b | {"members": [{"user_id": f"idem-{uuid.uuid4().hex[:10]}"}]},
        _members_of_team,
        lambda body, answer: f"{body['team_id']}:{body['members'][0]['user_id']}"),
}
ROUTE_NAMES = sorted(ROUTES)


def _with_key(idempotency_key: str) -> dict:
    return {"Idempotency-Key": idempotency_key}


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_a_retry_with_the_same_key_answers_the_first_answer_and_changes_nothing(api, name):
    # Given a request with an Idempotency-Key that succeeded
    route, key = ROUTES[name], str(uuid.uuid4())
    body = route.body(api)
    first = api.post(route.path, body, headers=_with_key(key))
    assert first.status == 200, first
    # When the client sends it again
    again = api.post(route.path, body, headers=_with_key(key))
    # Then it gets the first answer (without the raw key, never stored), and one object exists
    assert again.status == 200, again
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    if "key" in first.body:
        assert first.body["key"].startswith("sk-")
        assert again.body == first.body | {"key": None}
    else:
        assert again.body == first.body
    assert route.objects(api, body) == 1
    assert _audit_records(route.audited_object(body, first.body)) == 1


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_the_same_key_with_another_body_is_a_422_and_writes_nothing(api, name):
    route, key = ROUTES[name], str(uuid.uuid4())
    body = route.body(api)
    assert api.post(route.path, body, headers=_with_key(key)).status == 200
    other = route.other_body(body)
    reply = api.post(route.path, other, headers=_with_key(key))
    assert reply.status == 422, reply
    [error] = reply.body["detail"]
    assert error["loc"] == ["header", "idempotency-key"]
    assert error["type"] == "idempotency_key_reused"
    assert route.objects(api, other) == (0 if name in ("team_new", "user_new") else 1)


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_without_a_key_each_request_makes_its_own_object(api, name):
    route = ROUTES[name]
    body = route.body(api)
    first = api.post(route.path, body)
    second = api.post(route.path, body)
    if name == "bulk_member_add":  # the second add of the same member fails, on its own
        assert (first.status, second.status) == (200, 200)
        assert second.body["failed_additions"] == 1
        assert route.objects(api, body) == 1
    elif name == "user_new":  # one email is one user's: the second is refused
        assert (first.status, second.status) == (200, 400)
        assert route.objects(api, body) == 1
    else:
        assert (first.status, second.status) == (200, 200)
        assert route.objects(api, body) == 2


def test_two_callers_with_the_same_key_do_not_share_it(api):
    # Given two admins' keys, each sending the same Idempotency-Key and the same body
    key, body = str(uuid.uuid4()), _team_body(api)
    admin = api.new_user(role="proxy_admin")["key"]
    first = api.post("/team/new", body, headers=_with_key(key))
    second = api.post("/team/new", body, headers=_with_key(key), key=admin)
    # Then each made its own team
    assert (first.status, second.status) == (200, 200)
    assert first.body["team_id"] != second.body["team_id"]
    assert "Idempotent-Replayed" not in second.headers


def test_an_error_is_not_kept_so_the_retry_runs_again(api):
    # Given a key generation for a team that does not exist yet: 404
    team_id, key = f"idem-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    body = {"team_id": team_id}
    assert api.post("/key/generate", body, headers=_with_key(key)).status == 404
    # When the team appears and the client retries with the same key
    api.new_team(team_id=team_id)
    reply = api.post("/key/generate", body, headers=_with_key(key))
    # Then the retry ran: a new key
    assert reply.status == 200, reply
    assert reply.body["key"].startswith("sk-") and reply.body["team_id"] == team_id


def test_a_refused_request_is_not_kept_either(api):
    # A viewer's 403 keeps nothing: the same key from an admin later is a fresh request
    viewer = api.new_user(role="proxy_admin_viewer")["key"]
    key, body = str(uuid.uuid4()), _team_body(api)
    assert api.post("/team/new", body, headers=_with_key(key), key=viewer).status == 403
    assert api.post("/team/new", body, headers=_with_key(key)).status == 200


@pytest.mark.parametrize("value", ["", "   ", "k" * 256])
def test_an_unusable_key_is_a_422_on_the_header(api, value):
    reply = api.post("/team/new", _team_body(api), headers=_with_key(value))
    assert reply.status == 422, reply
    assert reply.body["detail"][0]["loc"] == ["header", "idempotency-key"]


def test_a_bad_body_is_still_a_422_on_the_body(api):
    reply = api.post("/team/new", {"team_alias": 5}, headers=_with_key(str(uuid.uuid4())))
    assert reply.status == 422, reply
    assert reply.body["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize("name", ["user_new", "key_generate"])
def test_the_raw_key_is_never_in_the_table(api, name):
    route, key = ROUTES[name], str(uuid.uuid4())
    body = route.body(api)
    first = api.post(route.path, body, headers=_with_key(key))
    api.post(route.path, body, headers=_with_key(key))
    raw = first.body["key"]
    assert raw.startswith("sk-")
    assert raw not in _whole_table_text()


# --- concurrent retries, from separate processes as Lambda execution environments ---------

def _call(path: str, body: dict, idempotency_key: str) -> tuple[int, dict]:
    reply = Api().post(path, body, headers=_with_key(idempotency_key))
    return reply.status, reply.body


@pytest.fixture(scope="module")
def pool(moto_endpoint):
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_call, ["/team/new"] * WORKERS, [{"team_alias": 5}] * WORKERS,
                      [str(uuid.uuid4())] * WORKERS))  # warm every worker up (a 422)
        yield pool


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_concurrent_retries_with_one_key_make_one_object(api, pool, name):
    # Given one request sent by 8 workers at once, all with the same Idempotency-Key
    route, key = ROUTES[name], str(uuid.uuid4())
    body = route.body(api)
    replies = list(pool.map(_call, [route.path] * WORKERS, [body] * WORKERS, [key] * WORKERS))
    # Then one of them ran; the others answered its answer, or 409 while it was running
    statuses = [status for status, _ in replies]
    assert set(statuses) <= {200, 409} and 200 in statuses, replies
    answers = [{k: v for k, v in answer.items() if k != "key"}
               for status, answer in replies if status == 200]
    assert all(answer == answers[0] for answer in answers), answers
    assert route.objects(api, body) == 1
    # And a retry after the race answers that same answer
    again = api.post(route.path, body, headers=_with_key(key))
    assert again.status == 200 and {k: v for k, v in again.body.items() if k != "key"} \
        == answers[0]
