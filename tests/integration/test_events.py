"""The `sam local invoke` fixtures in events/ stay usable: each is a v2 event for its own route,
and fed in order to its function's handler against an empty table, every one answers 200.

Two values in the fixtures cannot be real: the master key (`sk-local-master-key-change-me`, the
one events/env.json sets) becomes this session's, and the all-zero token in key_info.json and
key_delete.json becomes a token generated here (a token is the sha256 of a key made at random).
"""

import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.apigw import lambda_context
from tests.support.client import MASTER_KEY, Api
from tests.support.template import REPO_ROOT, Route, load_template, routes

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
    "team_info": lambda body, _: body["team_info"]["team_alias"] == "engineering",
    "team_update": lambda body, _: body["data"]["team_alias"] == "engineering-platform",
    "team_block": lambda body, _: body["blocked"] is True,
    "team_unblock": lambda body, _: body["blocked"] is False,
    "team_member_add": lambda body, _: "bob" in body["members"]
    and body["updated_team_memberships"][0]["litellm_budget_table"]["max_budget"] == 25,
    "team_bulk_member_add": lambda body, _: (body["successful_additions"],
                                             body["failed_additions"]) == (2, 0),
    "team_member_update": lambda body, _: body == {
        "user_id": "bob", "user_email": "bob@example.com", "team_id": "team-eng",
        "max_budget_in_team": 50},
    "team_member_delete": lambda body, _: "carol" in body["members"]
    and "dave@example.com" not in [m["user_email"] for m in body["members_with_roles"]],
    "team_model_add": lambda body, _: body["models"] == ["gpt-4o", "claude-3-5-sonnet"],
    "team_model_delete": lambda body, _: body["models"] == ["claude-3-5-sonnet"],
    "team_list": lambda body, _: "team-eng" in [team["team_id"] for team in body],
    "team_list_v2": lambda body, _: [team["team_id"] for team in body["teams"]] == ["team-eng"]
    and body["total"] == 1 and body["next_cursor"] is None,
    "team_filter_ui": lambda body, _: [team["team_id"] for team in body] == ["team-eng"],
    "team_available": lambda body, _: body == [],  # no AVAILABLE_TEAMS in the tests
    "user_info": lambda body, _: "team-eng" in body["user_info"]["teams"],
    "key_generate": lambda body, _: body["key_alias"] == "ci-bot" and body["team_id"] == "team-eng",
    "key_info": lambda body, token: body["key"] == token
    and body["info"]["key_alias"] == "ci-bot",
    "key_delete": lambda body, token: body["deleted_keys"] == [token],
    "team_delete": lambda body, _: body["deleted_teams"] == ["team-eng"],
    "audit": lambda body, _: [(r["action"], r["table_name"]) for r in body["data"]][:2] == [
        ("deleted", "LiteLLM_TeamTable"), ("updated", "LiteLLM_TeamTable")],
    "health_liveliness": lambda body, _: body == "I'm alive!",
}


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
    return result["statusCode"], json.loads(result.get("body") or "null")


def test_every_function_has_exactly_one_event_fixture():
    function_dirs = {path.parent.name for path in FUNCTIONS_DIR.glob("*/app.py")}
    fixtures = {path.stem for path in EVENTS_DIR.glob("*.json")} - {"env"}

    assert fixtures == function_dirs
    assert set(EXPECTED) == function_dirs


def test_env_vars_file_names_every_function():
    env_vars = json.loads((EVENTS_DIR / "env.json").read_text())

    assert set(env_vars) == {route.function for route in template_routes().values()}
    assert all(values["MASTER_KEY"] == FIXTURE_MASTER_KEY for values in env_vars.values())


@pytest.mark.parametrize("name", EXPECTED)
def test_event_fixture_is_its_routes_v2_event(name: str):
    route = template_routes()[name]
    event = read_event(name)

    assert event["version"] == "2.0"
    route_key = f"{route.method} {route.path}"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == route_key
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == route.path
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
        if name == "key_info":
            tokens[name] = tokens["key_generate"]
        elif name == "key_delete":
            tokens[name] = api.new_key(user_id="alice", team_id="team-eng")["token"]

        # When each fixture is fed to its function's handler
        status, body = invoke(route_of[name], load_event(name, tokens.get(name)))

        # Then it succeeds with the answer its route promises
        assert status == 200, (name, body)
        assert expected(body, tokens.get(name)), (name, body)
        if name == "key_generate":
            tokens[name] = body["token"]
