"""Issue 13, defects 9-12, through the handlers: every malformed cursor is the documented 400
on every route that takes one; GET /audit takes any valid time (the calendar's edges, years
below 1000); the alias order is the same, and right, on every list; an audit object id names
one object."""

import base64
import os
import uuid

import boto3
import pytest
from teamledger.store import keys as table_keys

from tests.support.client import MASTER_KEY


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- defect 9: any malformed cursor is a 400, on every route that takes one --------------

MALFORMED = [
    ("1536 open brackets", _b64(b"[" * 1536)),  # 2048 characters: the longest cursor taken
    ("760 nested lists", _b64(b"[" * 760 + b"]" * 760)),
    ("250 nested objects", _b64(b'{"a":' * 250 + b"1" + b"}" * 250)),
    ("a list in a list", _b64(b'[[1,"team_alias",false,"a#t","t",2]]')),
    ("lists as values", _b64(b'[1,[],[],[],[],[]]')),
    ("lone surrogates", _b64(b'[1,"team_alias",false,"a#\\ud800","\\ud800",2]')),
    ("lone surrogate key", _b64(b'[1,"object","AUDIT#a","\\udfff"]')),
    ("not ascii", "\u00e9t\u00e9"),
    ("utf-16", _b64('["x"]'.encode("utf-16"))),
    ("padding only", "===="),
    ("NaN", _b64(b'[NaN,"object","AUDIT#a","x"]')),
]
ROUTES = [
    ("/v2/team/list", {}),
    ("/v2/team/list", {"sort_by": "team_alias"}),
    ("/audit", {}),
    ("/audit", {"object_id": "a"}),
    ("/audit", {"changed_by": "someone"}),
]


@pytest.mark.parametrize("route,query", [pytest.param(r, q, id=f"{r}{sorted(q)}")
                                         for r, q in ROUTES])
@pytest.mark.parametrize("cursor", [pytest.param(c, id=name) for name, c in MALFORMED])
def test_a_malformed_cursor_is_400_on_every_cursor_route(api, route, query, cursor):
    reply = api.get(route, query=query | {"cursor": cursor})
    assert reply.status == 400, reply
    assert "cursor" in reply.body["detail"]["error"]


def test_a_malformed_cursor_is_400_for_a_member_too(api):
    user = api.new_user()
    reply = api.get("/v2/team/list", query={"cursor": _b64(b"[" * 1536)}, key=user["key"])
    assert reply.status == 400, reply


def test_an_audit_cursor_outside_the_querys_time_range_is_400(api):
    # Given a next_cursor of an object's whole log
    team_id = api.new_team()["team_id"]
    api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": 1}))
    first = api.ok(api.get("/audit", query={"object_id": team_id, "limit": "1"}))
    assert first["next_cursor"]
    # When it is sent with a time range its position is not in (DynamoDB refuses such a start
    # key as "outside query boundaries"), it is not a next_cursor of this query: 400
    for bounds in ({"end": "2000-01-01T00:00:00Z"}, {"start": "2999-01-01T00:00:00Z"}):
        reply = api.get("/audit", query={"object_id": team_id, "cursor": first["next_cursor"]}
                        | bounds)
        assert reply.status == 400, reply
    # And inside the range it is the next page
    inside = api.ok(api.get("/audit", query={"object_id": team_id, "cursor": first["next_cursor"],
                                             "start": "2000-01-01T00:00:00Z"}))
    assert [r["action"] for r in inside["data"]] == ["created"]


# --- defect 10: GET /audit takes any valid time ------------------------------------------

def test_audit_times_at_the_calendars_edges_and_before_year_1000(api):
    team_id = api.new_team()["team_id"]
    every = api.ok(api.get("/audit", query={"object_id": team_id}))["data"]
    assert len(every) == 1
    for bounds in (
        {"start": "0999-01-01T00:00:00Z"},  # year 999: still before everything
        {"start": "0001-01-01T00:00:00+14:00"},  # before year 1 in UTC: from the beginning
        {"end": "9999-12-31T23:59:59-14:00"},  # after year 9999 in UTC: to the end
        {"start": "0001-01-01T00:00:00+14:00", "end": "9999-12-31T23:59:59-14:00"},
        {"start": "0999-12-31T23:59:59", "end": "9999-12-31T23:59:59.999999Z"},
    ):
        assert api.ok(api.get("/audit", query={"object_id": team_id} | bounds))["data"] == \
            every, bounds
    for bounds in ({"end": "0999-01-01T00:00:00Z"}, {"start": "9999-12-31T23:59:59-14:00"}):
        assert api.ok(api.get("/audit", query={"object_id": team_id} | bounds))["data"] == [], \
            bounds


@pytest.mark.parametrize("bounds", [
    # Both before year 1 in UTC, start the later one
    {"start": "0001-01-01T00:00:00+13:00", "end": "0001-01-01T00:00:00+14:00"},
    {"start": "9999-12-31T23:59:59-14:00", "end": "9999-12-31T23:59:59-13:00"},
    {"start": "2026-01-01T00:00:00Z", "end": "0999-01-01T00:00:00Z"},
])
def test_audit_start_after_end_is_400_even_beyond_the_calendar(api, bounds):
    reply = api.get("/audit", query=bounds)
    assert reply.status == 400, reply
    assert "start is after end" in reply.body["detail"]["error"]


# --- defect 11: one alias order, the right one, everywhere -------------------------------

ALIASES = ["X platform", "X!", "X", "X-ops", "x", 'X"q', "X#", "X$", "X%", "X\tTab", "x\u00e9",
           "X\u2603", None, "", "Y", "X~", "X\x7f", " lead"]


def _walk(api, key=MASTER_KEY, **query) -> list[str]:
    seen, cursor = [], None
    while True:
        page = api.ok(api.get("/v2/team/list", key=key, query={k: str(v) for k, v in query.items()}
                              | ({"cursor": cursor} if cursor else {})))
        seen += [t["team_id"] for t in page["teams"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_alias_order_is_the_same_and_right_on_every_list(api, fresh_table):
    # Given teams whose aliases hold characters that sort below '#' and around it
    user = api.new_user()
    made = [api.new_team(team_id=f"t{n:02d}-{_uid()}",
                         members_with_roles=[{"user_id": user["user_id"]}],
                         **({"team_alias": alias} if alias is not None else {}))
            for n, alias in enumerate(ALIASES)]
    expected = [t["team_id"] for t in sorted(
        made, key=lambda t: ((t.get("team_alias") or "").lower(), t["team_id"]))]
    assert expected.index(made[2]["team_id"]) < expected.index(made[0]["team_id"]) < \
        expected.index(made[1]["team_id"]) < expected.index(made[3]["team_id"])
    # Then the admin's pages (the alias index), by cursor and by number, both ways
    assert _walk(api, page_size=3, sort_by="team_alias") == expected
    assert _walk(api, page_size=4, sort_by="team_alias", sort_order="desc") == expected[::-1]
    by_number = [t["team_id"] for n in range(1, 8) for t in api.ok(api.get(
        "/v2/team/list", query={"page": str(n), "page_size": "3", "sort_by": "team_alias"}))[
        "teams"]]
    assert by_number == expected
    # And a member's pages (sorted in memory), and /team/list, say the same
    assert _walk(api, user["key"], page_size=5, sort_by="team_alias") == expected
    assert [t["team_id"] for t in api.ok(api.get("/team/list"))] == expected
    assert [t["team_id"] for t in api.ok(api.get("/team/list", query={
        "user_id": user["user_id"]}))] == expected


def test_a_team_with_the_longest_alias_is_made_and_listed(api, fresh_table):
    # Aliases of 1,024 bytes (4-byte characters; spaces, which the key escapes to 2 bytes) with
    # a 256-character id: the index sort key stays within DynamoDB's 1,024 bytes
    made = [api.new_team(team_id=f"{n}".ljust(256, "t"), team_alias=alias)
            for n, alias in enumerate(["\U0001f600" * 256, " " * 1024, "b" * 1024])]
    listed = _walk(api, page_size=1, sort_by="team_alias")
    assert listed == [made[1]["team_id"], made[2]["team_id"], made[0]["team_id"]]
    assert [t["team_id"] for t in api.ok(api.get("/team/list"))] == listed


def _alias_sort_key(team_id: str) -> str:
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["TABLE_NAME"], Key={"PK": {"S": f"TEAM#{team_id}"},
                                                 "SK": {"S": "TEAM"}})["Item"]
    return item["GSI3SK"]["S"]


def test_every_writer_of_the_alias_order_writes_the_new_encoding(api, fresh_table):
    # Given a team made with an alias that the old encoding got wrong
    team_id = api.new_team(team_alias="A b")["team_id"]
    assert _alias_sort_key(team_id) == table_keys.alias_order(team_id, "A b")
    # When its alias changes
    api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": "C!d"}))
    assert _alias_sort_key(team_id) == table_keys.alias_order(team_id, "C!d")
    # And when an item written with the old encoding gets any change of the team
    boto3.client("dynamodb").update_item(
        TableName=os.environ["TABLE_NAME"], Key={"PK": {"S": f"TEAM#{team_id}"},
                                                 "SK": {"S": "TEAM"}},
        UpdateExpression="SET GSI3SK = :old", ExpressionAttributeValues={
            ":old": {"S": f"c!d#{team_id}"}})
    api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": 3}))
    # Then it is re-indexed in the new one
    assert _alias_sort_key(team_id) == table_keys.alias_order(team_id, "C!d")
    api.ok(api.post("/team/block", {"team_id": team_id}))
    assert _alias_sort_key(team_id) == table_keys.alias_order(team_id, "C!d")


# --- defect 12: an audit object id names one object ----------------------------------------

def _records(api, object_id: str) -> list[dict]:
    return api.ok(api.get("/audit", query={"object_id": object_id, "limit": "100"}))["data"]


def test_memberships_that_joined_to_one_id_have_their_own_records(api):
    # Given team "P:x" with user "y" and team "P" with user "x:y" (both were "P:x:y")
    p, y = f"P{_uid()}", f"y{_uid()}"
    api.new_team(team_id=f"{p}:x", members_with_roles=[{"user_id": y}])
    api.new_team(team_id=p, members_with_roles=[{"user_id": f"x:{y}"}])
    # Then each membership's records are its own, by its escaped object id
    first, second = _records(api, f"{p}%3Ax:{y}"), _records(api, f"{p}:x%3A{y}")
    assert [(r["action"], r["object_id"], r["updated_values"]["team_id"],
             r["updated_values"]["user_id"]) for r in first] == [
        ("created", f"{p}%3Ax:{y}", f"{p}:x", y)]
    assert [(r["action"], r["object_id"], r["updated_values"]["team_id"],
             r["updated_values"]["user_id"]) for r in second] == [
        ("created", f"{p}:x%3A{y}", p, f"x:{y}")]
    # And the joined form of old names neither of them
    assert _records(api, f"{p}:x:{y}") == []
    # And a team or user with ':' or '%' in its id is escaped the same way (hex in any case)
    team_records = _records(api, f"{p}%3Ax")
    assert [(r["table_name"], r["object_id"]) for r in team_records] == [
        ("LiteLLM_TeamTable", f"{p}%3Ax")]
    assert _records(api, f"{p}%3ax") == team_records
    assert [(r["table_name"], r["object_id"]) for r in _records(api, f"x%3A{y}")] == [
        ("LiteLLM_UserTable", f"x%3A{y}")]


def test_plain_ids_keep_their_object_ids(api):
    team_id, user_id = f"plain-{_uid()}", f"user-{_uid()}"
    api.new_team(team_id=team_id, members_with_roles=[{"user_id": user_id}])
    assert [r["object_id"] for r in _records(api, team_id)] == [team_id]
    assert [r["object_id"] for r in _records(api, f"{team_id}:{user_id}")] == [
        f"{team_id}:{user_id}"]
    assert [r["object_id"] for r in _records(api, user_id)] == [user_id]


def test_a_percent_in_an_id_is_escaped(api):
    user_id = f"50%off-{_uid()}"
    team_id = api.new_team(members_with_roles=[{"user_id": user_id}])["team_id"]
    escaped = user_id.replace("%", "%25")
    assert [r["object_id"] for r in _records(api, escaped)] == [escaped]
    assert [r["object_id"] for r in _records(api, f"{team_id}:{escaped}")] == [
        f"{team_id}:{escaped}"]


def test_the_longest_membership_object_id_can_be_asked_for(api):
    # Ids of 256 characters, all ':' after a unique start: each ':' escapes to 3 characters
    team_start, user_start = f"t{_uid()}", f"u{_uid()}"
    team_id, user_id = team_start.ljust(256, ":"), user_start.ljust(256, ":")
    api.new_team(team_id=team_id, members_with_roles=[{"user_id": user_id}])
    object_id = f"{team_start}{'%3A' * 247}:{user_start}{'%3A' * 247}"
    assert len(object_id) == 2 * (9 + 3 * 247) + 1
    records = _records(api, object_id)
    assert [(r["table_name"], r["object_id"]) for r in records] == [
        ("LiteLLM_TeamMembership", object_id)]
