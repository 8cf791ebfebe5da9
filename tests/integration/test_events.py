"""The `sam local invoke` fixtures in events/ stay usable: each is a v2 event for its own route,
and fed in order to its function's handler against an empty table, every one answers 200. A
function no route calls has the event its trigger sends instead (the audit publisher: a
DynamoDB Streams batch), tested on its own.

Two values in the fixtures cannot be real: the master key (`sk-local-master-key-change-me`, the
one events/env.json sets) becomes this session's, and the all-zero token in key_info.json and
key_delete.json becomes a token generated here (a token is the sha256 of a key made at random).
"""

import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.apigw import lambda_context, path_parameters
from tests.support.client import MASTER_KEY, Api
from tests.support.streams import passes
from tests.support.template import (
    REPO_ROOT,
    Route,
    function_ids,
    load_template,
    routes,
    stream_consumers,
)

EVENTS_DIR = REPO_ROOT / "events"
FUNCTIONS_DIR = REPO_ROOT / "functions"
FIXTURE_MASTER_KEY = "sk-local-master-key-change-me"
PLACEHOLDER_TOKEN = "0" * 64

# Fixture name (= function dir) -> what its 200 answer must show, in the order they run; the
# second argument is the token put into the fixture (key_info, key_delete), else None.
EXPECTED: dict[str, Callable[[Any, str | None], bool]] = {
    "user_new": lambda body, _: body["user_id"] == "alice" and body["key"].startswith("sk-"),
    "team_new": lambda body, _: body["team_id"] == "team-eng"
    and {"user_id": "alice", "user_email": "alice@example.com", "role": "admin"}
    in body["members_with_roles"],
    "team_info": lambda body, _: body["team_info"]["team_alias"] == "engineering"
    and body["members_next_cursor"] is None,
    "team_members": lambda body, _: body["team_id"] == "team-eng"
    and "alice" in [m["user_id"] for m in body["members"]] and body["next_cursor"] is None,
    "team_update": lambda body, _: body["data"]["team_alias"] == "engineering-platform",
    "team_patch": lambda body, _: body["team_id"] == "team-eng"
    and body["team_alias"] == "platform-engineering",
    "team_block": lambda body, _: body["blocked"] is True,
    "team_unblock": lambda body, _: body["blocked"] is False,
    "team_member_add": lambda body, _: "bob" in [m["user_id"] for m in body["members_with_roles"]]
    and body["updated_team_memberships"][0]["litellm_budget_table"]["max_budget"] == 25,
    "team_bulk_member_add": lambda body, _: (body["successful_additions"],
                                             body["failed_additions"]) == (2, 0),
    "team_member_update": lambda body, _: body == {
        "user_id": "bob", "user_email": "bob@example.com", "team_id": "team-eng",
        "max_budget_in_team": 50},
    "team_member_delete": lambda body, _: "carol" in [
        m["user_id"] for m in body["members_with_roles"]]
    and "dave@example.com" not in [m["user_email"] for m in body["members_with_roles"]],
    "team_model_add": lambda body, _: body["models"] == ["gpt-4o", "claude-3-5-sonnet"],
    "team_model_delete": lambda body, _: body["models"] == ["claude-3-5-sonnet"],
    "team_permissions_list": lambda body, _: body["team_member_permissions"] == [
        "/key/info", "/key/list"] and "/key/delete" in body["all_available_permissions"],
    "team_permissions_update": lambda body, _: body["team_member_permissions"] == [
        "/key/info", "/key/list", "/key/generate"],
    "team_list": lambda body, _: "team-eng" in [team["team_id"] for team in body],
    "team_list_v2": lambda body, _: [team["team_id"] for team in body["teams"]] == ["team-eng"]
    and body["total"] == 1 and body["next_cursor"] is None,
    "team_filter_ui": lambda body, _: [team["team_id"] for team in body] == ["team-eng"],
    "team_available": lambda body, _: body == [],  # no AVAILABLE_TEAMS in the tests
    "user_info": lambda body, _: "team-eng" in body["user_info"]["teams"],
    "user_update": lambda body, _: body["metadata"] == {"department": "platform"}
    and "team-eng" in body["teams"],
    "user_list": lambda body, _: [u["user_id"] for u in body["users"]] == ["alice"]
    and (body["total"], body["page"], body["page_size"]) == (1, 1, 10),
    "key_generate": lambda body, _: body["key_alias"] == "ci-bot" and body["team_id"] == "team-eng",
    "key_info": lambda body, token: body["key"] == token
    and body["info"]["key_alias"] == "ci-bot",
    "key_list": lambda body, token: [k["token"] for k in body["keys"]] == [token]
    and body["keys"][0]["key_alias"] == "ci-bot" and body["total_count"] == 1,
    "spend_track": lambda body, _: body["key"] == {
        "spend": 0.25, "max_budget": None, "budget_exceeded": False}
    and body["team"]["spend"] == 0.25 and body["user"]["spend"] == 0.25
    and body["team_membership"]["spend"] == 0.25,
    "spend_reserve": lambda body, _: body["team_id"] == "team-eng"
    and body["scopes"]["team"]["reserved"] == 0.05 and len(body["reservation_id"]) == 32,
    "spend_settle": lambda body, _: body["state"] == "settled"
    and (body["scopes"]["team"]["spend"], body["scopes"]["team"]["reserved"]) == (0.2623, 0.0),
    "spend_release": lambda body, _: body["state"] == "settled",  # after settle: no change
    "key_update": lambda body, token: body["token"] == token
    and (body["key_alias"], body["max_budget"]) == ("ci-bot-2", 100.0),
    # /key/{key}/regenerate (the function's last route), the old key working for an hour
    "key_regenerate": lambda body, token: body["token"] != token
    and body["key"].startswith("sk-") and body["key_alias"] == "ci-bot-2",
    "key_delete": lambda body, token: body["deleted_keys"] == [token],
    "user_delete": lambda body, _: body == {"deleted_users": ["carol"]},
    "team_delete": lambda body, _: body["deleted_teams"] == ["team-eng"],
    "audit": lambda body, _: [(r["action"], r["table_name"]) for r in body["data"]][:2] == [
        ("deleted", "LiteLLM_TeamTable"), ("updated", "LiteLLM_TeamTable")],
    "health_liveliness": lambda body, _: body == "I'm alive!",
    # The console's files (its last route, /ui/{proxy+}): the page, as HTML
    "ui": lambda body, _: "<title>TeamLedger console</title>" in body,
}


# Functions without a route, whose fixture is the event their trigger sends (tested below).
TRIGGERED = {"audit_publisher", "budget_reset", "spend_order"}
PLACEHOLDER_RESERVATION = "1" * 32


def template_routes() -> dict[str, Route]:
    """Function dir -> its route, e.g. "team_new" -> POST /team/new (TeamNewFunction)."""
    return {route.module.split(".")[1]: route for route in routes(load_template())}


def read_event(name: str) -> dict:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def load_event(name: str, token: str | None = None) -> dict:
    """The fixture with this session's master key and, if given, `token` in place of zeros."""
    text = (EVENTS_DIR / f"{name}.json").read_text()
    if token is not None:
        # Same length as the placeholder, so the fixture's content-length stays right.
        assert len(token) == len(PLACEHOLDER_TOKEN)
        text = text.replace(PLACEHOLDER_TOKEN, token)
    event = json.loads(text)
    if "authorization" in event["headers"]:
        assert event["headers"]["authorization"] == f"Bearer {FIXTURE_MASTER_KEY}"
        event["headers"]["authorization"] = f"Bearer {MASTER_KEY}"
    return event


def invoke(route: Route, event: dict) -> tuple[int, Any]:
    handler = getattr(importlib.import_module(route.module), route.handler)
    result = handler(event, lambda_context(route.function))
    if not (result.get("headers") or {}).get("Content-Type", "").startswith("application/json"):
        return result["statusCode"], result.get("body")  # the console's files: text
    return result["statusCode"], json.loads(result.get("body") or "null")


def test_every_function_has_exactly_one_event_fixture():
    function_dirs = {path.parent.name for path in FUNCTIONS_DIR.glob("*/app.py")}
    fixtures = {path.stem for path in EVENTS_DIR.glob("*.json")} - {"env"}

    assert fixtures == function_dirs
    assert set(EXPECTED) | TRIGGERED == function_dirs
    assert not set(EXPECTED) & TRIGGERED


def test_env_vars_file_names_every_function():
    env_vars = json.loads((EVENTS_DIR / "env.json").read_text())

    assert set(env_vars) == set(function_ids(load_template()))
    # Routes get the fixtures' master key; the functions no request reaches need none.
    routed = {route.function for route in template_routes().values()}
    assert all(env_vars[function]["MASTER_KEY"] == FIXTURE_MASTER_KEY for function in routed)
    assert all("MASTER_KEY" not in env_vars[function] for function in set(env_vars) - routed)
    # That key is weak: sam local is local (LOCAL_DEV), where it is accepted with a warning.
    assert all(env_vars[function]["LOCAL_DEV"] == "true" for function in routed)


@pytest.mark.parametrize("name", EXPECTED)
def test_event_fixture_is_its_routes_v2_event(name: str):
    route = template_routes()[name]
    event = read_event(name)

    assert event["version"] == "2.0"
    route_key = f"{route.method} {route.path}"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == route_key
    assert event["rawPath"] == event["requestContext"]["http"]["path"]
    # A route with path parameters has them in its path, and in pathParameters
    assert path_parameters(route.path, event["rawPath"]) == event.get("pathParameters", {})
    assert event["isBase64Encoded"] is False
    assert all(header == header.lower() for header in event["headers"])
    if "body" in event:
        assert isinstance(event["body"], str)
        assert int(event["headers"]["content-length"]) == len(event["body"].encode())


def test_event_fixtures_in_order_all_succeed_against_an_empty_table(api: Api):
    # Given the fixtures' ids are used by no other test (alice, bob, carol, team-eng...)
    route_of = template_routes()
    tokens: dict[str, str | None] = {}

    for name, expected in EXPECTED.items():
        if name in ("key_info", "key_list", "spend_track", "spend_reserve", "key_update",
                    "key_regenerate"):
            tokens[name] = tokens["key_generate"]
        elif name == "key_delete":
            tokens[name] = api.new_key(user_id="alice", team_id="team-eng")["token"]
        event = load_event(name, tokens.get(name))
        if name in ("spend_settle", "spend_release"):  # the reservation made just before
            event["body"] = event["body"].replace(PLACEHOLDER_RESERVATION,
                                                  tokens["spend_reserve_id"] or "")

        # When each fixture is fed to its function's handler
        status, body = invoke(route_of[name], event)

        # Then it succeeds with the answer its route promises
        assert status == 200, (name, body)
        assert expected(body, tokens.get(name)), (name, body)
        if name == "key_generate":
            tokens[name] = body["token"]
        if name == "spend_reserve":
            tokens["spend_reserve_id"] = body["reservation_id"]


def test_audit_publisher_fixture_is_one_audit_insert_its_filter_lets_through():
    consumer = next(c for c in stream_consumers(load_template())
                    if c.module == "functions.audit_publisher.app")
    event = read_event("audit_publisher")

    (record,) = event["Records"]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert ":table/teamledger/stream/" in record["eventSourceARN"]
    assert passes(consumer.filters, record)


def test_audit_publisher_fixture_publishes_its_record(audit_queue):
    # Given the fixture's one audit record
    event = read_event("audit_publisher")
    audit_id = event["Records"][0]["dynamodb"]["NewImage"]["id"]["S"]
    handler = importlib.import_module("functions.audit_publisher.app").lambda_handler

    # When it is fed to the publisher
    result = handler(event, lambda_context("AuditPublisherFunction"))

    # Then nothing failed and the record is on the audit queue, grouped by its object
    assert result == {"batchItemFailures": []}
    published = [m for m in audit_queue.read_all() if json.loads(m["Body"])["id"] == audit_id]
    assert [m["Attributes"]["MessageGroupId"] for m in published] == ["team-eng"]


def test_budget_reset_fixture_runs_the_reset(api, fresh_table):
    # Given a table of its own in which one team's budget period has just ended
    from teamledger.store import keys as table_keys
    from teamledger.store import table
    from teamledger.store.client import client
    from teamledger.store.marshal import to_item

    from tests.support.apigw import LambdaContext

    team = api.new_team(budget_duration="30s")
    key = api.new_key(team_id=team["team_id"])
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 3.0}))
    past = "2026-01-01T00:00:00.000000Z"
    expression, names, values = table.update_expression(
        {"budget_anchor": past, "budget_reset_at": past, "GSI4SK": past})
    client().update_item(
        TableName=fresh_table, Key=to_item(table_keys.team(team["team_id"])),
        UpdateExpression=expression, ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_item(values))
    # When the scheduled event of events/ reaches the function, with the template's Timeout
    # (300 s; the run stops 15 s before the end of it)
    handler = importlib.import_module("functions.budget_reset.app").lambda_handler
    context = LambdaContext(function_name="BudgetResetFunction", timeout_millis=300_000)
    report = handler(read_event("budget_reset"), context)
    # Then the team was reset, and the run says so
    assert (report["reset"], report["read"], report["errors"]) == (1, 1, [])
    from teamledger.store.refs import TeamRef
    assert table.get(table_keys.counter(TeamRef(team["team_id"])))["spend"] == 0
