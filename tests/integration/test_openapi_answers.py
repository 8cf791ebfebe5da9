"""Real answers fit docs/openapi.json: each status a handler really sends is one the document
lists for that route, and the body validates against the schema it gives (JSON Schema 2020-12,
OpenAPI 3.1's dialect). Errors of every kind (401, 403, 400, 404, 413, 422, 503) and a few
successes, each from the route's own handler with an API Gateway v2 event."""

import json
import uuid

import pytest
from jsonschema import Draft202012Validator  # comes with moto[server]

from tests.support import openapi
from tests.support.client import Reply
from tests.support.template import load_template

UNKNOWN_TOKEN = "0" * 64
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def world(api) -> dict:
    """A team with a member, that member's key, and a key with neither user nor team."""
    user = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": user["user_id"], "role": "user"}])
    budgeted = api.new_key(max_budget=1.0)["token"]
    held = api.ok(api.post("/spend/reserve", {"token": budgeted, "amount": 0.1}))
    api.ok(api.post("/spend/release", {"reservation_id": held["reservation_id"]}))
    return {"team": team["team_id"], "user": user["user_id"], "user_key": user["key"],
            "bare_key": api.new_key()["key"], "budgeted_key": budgeted,
            "released": held["reservation_id"]}


def assert_fits(document: dict, method: str, path: str, reply: Reply) -> None:
    """The reply's status is documented for the route, and its body fits that status' schema."""
    answers = document["paths"][path][method.lower()]["responses"]
    answer = answers.get(str(reply.status))
    assert answer is not None, (
        f"{method} {path} answered {reply.status}, which the document does not list "
        f"({sorted(answers)}): {reply.body!r}")
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    content_type = {k.lower(): v for k, v in reply.headers.items()}.get("content-type", "")
    assert content_type.startswith("application/json"), reply.headers
    schema = answer["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(reply.body)]
    assert not problems, f"{method} {path} {reply.status} breaks the document: {problems}"


def _nested_member_error(world):
    # A list of members, the second of the wrong type: loc holds an index (an integer).
    return {"team_id": world["team"], "member": [{"user_id": "ok"}, {"user_id": 5}]}


# (case, expected status, method, path, request kwargs built from the world)
ERRORS = [
    ("no key", 401, "GET", "/team/info", lambda w: {"key": None, "query": {"team_id": w["team"]}}),
    ("unknown key", 401, "POST", "/team/new", lambda w: {"key": "sk-unknown", "body": {}}),
    ("list all as a user", 401, "GET", "/team/list", lambda w: {"key": w["user_key"]}),
    ("role may not", 403, "POST", "/team/new", lambda w: {"key": w["user_key"], "body": {}}),
    ("key without identity", 403, "GET", "/team/available", lambda w: {"key": w["bare_key"]}),
    ("unknown team, not admin", 403, "GET", "/team/info",
     lambda w: {"key": w["user_key"], "query": {"team_id": "no-such-team"}}),
    ("unknown team", 404, "GET", "/team/info", lambda w: {"query": {"team_id": "no-such-team"}}),
    ("block unknown team", 404, "POST", "/team/block", lambda w: {"body": {"team_id": "nope"}}),
    ("unknown key info", 404, "GET", "/key/info", lambda w: {"query": {"key": UNKNOWN_TOKEN}}),
    ("spend on unknown key", 404, "POST", "/spend/track",
     lambda w: {"body": {"token": UNKNOWN_TOKEN, "spend": 1.5}}),
    ("bad duration", 400, "POST", "/team/new", lambda w: {"body": {"budget_duration": "30days"}}),
    ("foreign cursor", 400, "GET", "/v2/team/list", lambda w: {"query": {"cursor": "garbage"}}),
    ("start after end", 400, "GET", "/audit",
     lambda w: {"query": {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}}),
    ("not a member", 400, "POST", "/team/member_delete",
     lambda w: {"body": {"team_id": w["team"], "user_id": f"nobody-{uuid.uuid4().hex[:8]}"}}),
    ("missing query parameter", 422, "GET", "/team/info", lambda w: {}),
    ("query out of range", 422, "GET", "/v2/team/list", lambda w: {"query": {"page_size": "0"}}),
    ("not JSON", 422, "POST", "/team/new", lambda w: {"raw_body": "{not json"}),
    ("not an object", 422, "POST", "/team/block", lambda w: {"raw_body": "[1, 2]"}),
    ("wrong type deep in a list", 422, "POST", "/team/member_add",
     lambda w: {"body": _nested_member_error(w)}),
    ("missing field", 422, "POST", "/spend/track", lambda w: {"body": {"token": UNKNOWN_TOKEN}}),
    ("unknown end-user key", 401, "POST", "/spend/reserve",
     lambda w: {"body": {"token": UNKNOWN_TOKEN, "amount": 0.1}}),
    ("over budget", 429, "POST", "/spend/reserve",
     lambda w: {"body": {"token": w["budgeted_key"], "amount": 2}}),
    ("negative amount", 400, "POST", "/spend/reserve",
     lambda w: {"body": {"token": UNKNOWN_TOKEN, "amount": -1}}),
    ("unknown reservation", 404, "POST", "/spend/settle",
     lambda w: {"body": {"reservation_id": "nope", "spend": 1}}),
    ("settle after release", 409, "POST", "/spend/settle",
     lambda w: {"body": {"reservation_id": w["released"], "spend": 1}}),
    ("body over 1 MiB", 413, "POST", "/team/new",
     lambda w: {"raw_body": json.dumps({"team_alias": "x" * MIB})}),
    ("update an unknown user", 404, "POST", "/user/update",
     lambda w: {"body": {"user_id": f"nobody-{uuid.uuid4().hex[:8]}", "metadata": {}}}),
    ("update naming nobody", 400, "POST", "/user/update", lambda w: {"body": {"metadata": {}}}),
    ("delete an unknown user", 404, "POST", "/user/delete",
     lambda w: {"body": {"user_ids": [f"nobody-{uuid.uuid4().hex[:8]}"]}}),
    ("list users as a user", 403, "GET", "/user/list", lambda w: {"key": w["user_key"]}),
    ("patch naming another team", 400, "PATCH", "/team/{team_id}",
     lambda w: {"path_params": {"team_id": w["team"]}, "body": {"team_id": "other"}}),
    ("update an unknown key", 404, "POST", "/key/update",
     lambda w: {"body": {"key": UNKNOWN_TOKEN, "key_alias": "x"}}),
    ("bad grace period", 400, "POST", "/key/regenerate",
     lambda w: {"body": {"key": w["budgeted_key"], "grace_period": "soon"}}),
    ("regenerate an unknown key", 404, "POST", "/key/{key}/regenerate",
     lambda w: {"path_params": {"key": UNKNOWN_TOKEN}}),
]


@pytest.mark.parametrize(("status", "method", "path", "request_of"),
                         [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_error_answers_fit_the_document(api, world, document, status, method, path, request_of):
    # Given a request the route must refuse
    # When its handler answers
    reply = api.call(method, path, **request_of(world))
    # Then it is the expected refusal, documented for the route, in the documented shape
    assert reply.status == status, reply
    assert_fits(document, method, path, reply)


def test_a_422_location_may_hold_list_indexes(api, world, document):
    reply = api.post("/team/member_add", _nested_member_error(world))
    assert reply.status == 422, reply
    assert any(isinstance(part, int) for error in reply.body["detail"] for part in error["loc"])
    assert_fits(document, "POST", "/team/member_add", reply)


@pytest.mark.parametrize("raised", ["busy", "lost race"])
def test_a_busy_table_answers_503_as_documented(api, world, document, monkeypatch, raised):
    # Given the layer that gives up under contention (Busy) or loses a transaction race
    from teamledger.domain import teams
    from teamledger.errors import Busy, TransactionCancelled

    def give_up(*args, **kwargs):
        if raised == "busy":
            raise Busy("The table is busy; please retry")
        raise TransactionCancelled(["TransactionConflict"])

    monkeypatch.setattr(teams, "set_blocked", give_up)
    # When a route calls it
    reply = api.post("/team/block", {"team_id": world["team"]})
    # Then the caller is told to retry, in the documented shape
    assert reply.status == 503, reply
    assert_fits(document, "POST", "/team/block", reply)


def test_every_route_but_the_public_ones_refuses_a_missing_key(api, document):
    # Given every route of the template, called without a key
    for route in openapi.api_routes(load_template()):  # the console's files: test_console_files
        body = {} if route.method == "POST" else None
        reply = api.call(route.method, route.path, key=None, body=body)
        # Then only the document's public routes answer, the others say 401, as documented
        expected = 200 if (route.method, route.path) in openapi.PUBLIC_ROUTES else 401
        assert reply.status == expected, (route.method, route.path, reply)
        assert_fits(document, route.method, route.path, reply)


def test_successful_answers_fit_the_document(api, world, document):
    # Given a few successful calls across the API, with their objects
    key = api.new_key(team_id=world["team"], user_id=world["user"])
    calls = [
        ("GET", "/health/liveliness", {"key": None}),
        ("POST", "/team/new", {"body": {"team_alias": "openapi", "budget_duration": "30d",
                                        "members_with_roles": [{"user_email": "o@example.com"}]}}),
        ("GET", "/team/info", {"query": {"team_id": world["team"]}}),
        ("GET", "/team/list", {"query": {"user_id": world["user"]}, "key": world["user_key"]}),
        ("GET", "/v2/team/list", {"query": {"page_size": "2"}}),
        ("GET", "/team/filter/ui", {"query": {"page_size": "2"}}),
        ("GET", "/team/available", {"key": world["user_key"]}),
        ("POST", "/team/member_update", {"body": {"team_id": world["team"],
                                                  "user_id": world["user"],
                                                  "max_budget_in_team": 5,
                                                  "budget_duration": "1mo"}}),
        ("POST", "/team/bulk_member_add", {"body": {"team_id": world["team"], "members": [
            {"user_id": world["user"]}, {"user_email": "bulk@example.com"}]}}),
        ("POST", "/spend/track", {"body": {"token": key["token"], "spend": 0.25}}),
        ("POST", "/spend/reserve", {"body": {"token": key["token"], "amount": 0.5,
                                             "request_id": "openapi-1"}}),
        ("POST", "/spend/reserve", {"body": {"token": key["token"], "amount": 0.5,
                                             "request_id": "openapi-1"}}),
        ("GET", "/key/info", {"query": {"key": key["token"]}}),
        ("GET", "/user/info", {"query": {"user_id": world["user"]}}),
        ("POST", "/user/update", {"body": {"user_id": world["user"], "metadata": {"k": 1}}}),
        ("GET", "/user/list", {"query": {"page_size": "2"}}),
        ("PATCH", "/team/{team_id}", {"path_params": {"team_id": world["team"]},
                                      "body": {"team_alias": "patched"}}),
        ("GET", "/audit", {"query": {"object_id": world["team"], "limit": "5"}}),
        ("POST", "/key/update", {"body": {"key": key["token"], "key_alias": "openapi"}}),
        ("POST", "/key/regenerate", {"body": {"key": api.new_key()["token"],
                                              "grace_period": "1h"}}),
        ("POST", "/key/{key}/regenerate", {"path_params": {"key": api.new_key()["key"]}}),
        ("POST", "/key/delete", {"body": {"keys": [key["token"]]}}),
    ]
    for method, path, kwargs in calls:
        # When each is made
        reply = api.call(method, path, **kwargs)
        # Then it succeeds with a body the document's 200 schema accepts
        assert reply.status == 200, (method, path, reply)
        assert_fits(document, method, path, reply)


def test_idempotency_key_answers_fit_the_document(api, world, document, monkeypatch):
    # Given a key generation with an Idempotency-Key, its replay, and the key with another body
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )
    from teamledger.http import idempotency

    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"user_id": world["user"]}
    replies = [(200, api.post("/key/generate", body, headers=headers)),
               (200, api.post("/key/generate", body, headers=headers)),
               (422, api.post("/key/generate", body | {"key_alias": "x"}, headers=headers))]

    def still_running():
        raise IdempotencyAlreadyInProgressError("the first request is running")

    monkeypatch.setattr(idempotency, "_answer_once", lambda: lambda **_: still_running())
    replies.append((409, api.post("/key/generate", body, headers=headers)))
    # Then each has the status and the body the document gives (the replay: "key": null)
    assert replies[1][1].body["key"] is None
    for status, reply in replies:
        assert reply.status == status, reply
        assert_fits(document, "POST", "/key/generate", reply)
