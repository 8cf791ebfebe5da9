"""The audit trail: every mutating route writes exactly one AuditLog per changed object in the
transaction of the change (none when the transaction fails), and GET /audit serves them newest
first with filters, time ranges and cursors, from keys and indexes only."""

import json
import os
import uuid

import boto3
import pytest
from teamledger.store import retry, table

from tests.support.client import MASTER_KEY


def _records(api, object_id: str) -> list[dict]:
    return api.ok(api.get("/audit", query={"object_id": object_id, "limit": "100"}))["data"]


def _stored(object_id: str) -> list[dict]:
    """The records as stored, read around the service (what a failed write must not leave)."""
    return boto3.client("dynamodb").query(
        TableName=os.environ["TABLE_NAME"], KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{object_id}"}})["Items"]


def _uid() -> str:
    return uuid.uuid4().hex[:8]


# --- one record per changed object, per route --------------------------------------------

def test_team_routes_each_write_one_record(api):
    team = api.new_team(team_alias=f"audited-{_uid()}")
    team_id = team["team_id"]
    headers = {"litellm-changed-by": "alice"}
    api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": 10}, headers=headers))
    api.ok(api.post("/team/block", {"team_id": team_id}))
    api.ok(api.post("/team/block", {"team_id": team_id}))  # changes nothing: no record
    api.ok(api.post("/team/unblock", {"team_id": team_id}))
    api.ok(api.post("/team/model/add", {"team_id": team_id, "models": ["gpt-4o"]}))
    api.ok(api.post("/team/model/delete", {"team_id": team_id, "models": ["gpt-4o"]}))
    records = _records(api, team_id)
    assert [r["action"] for r in records] == [
        "updated", "updated", "unblocked", "blocked", "updated", "created"]
    assert all(r["table_name"] == "LiteLLM_TeamTable" and r["object_id"] == team_id
               for r in records)
    update = records[4]
    assert (update["before_value"], update["updated_values"]) == (
        {"max_budget": None}, {"max_budget": 10.0})
    assert update["changed_by"] == "alice"
    assert records[3]["changed_by"] == "default_user_id"
    assert (records[1]["before_value"], records[1]["updated_values"]) == (
        {"models": []}, {"models": ["gpt-4o"]})
    assert records[-1]["before_value"] is None
    assert records[-1]["updated_values"]["team_alias"] == team["team_alias"]
    # The master key by a label: never a raw key, nor its hash (test_master_key.py)
    assert {r["changed_by_api_key"] for r in records} == {"master_key"}


def test_member_routes_write_one_record_per_membership_and_new_user(api):
    team_id = api.new_team()["team_id"]
    new_user = f"audited-user-{_uid()}"
    api.ok(api.post("/team/member_add", {"team_id": team_id, "member": {"user_id": new_user}}))
    bulk = [f"audited-bulk-{_uid()}" for _ in range(2)]
    api.ok(api.post("/team/bulk_member_add", {"team_id": team_id,
                                              "members": [{"user_id": u} for u in bulk]}))
    api.ok(api.post("/team/member_update", {"team_id": team_id, "user_id": new_user,
                                            "role": "admin", "max_budget_in_team": 3}))
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": new_user}))
    membership = _records(api, f"{team_id}:{new_user}")
    assert [r["action"] for r in membership] == ["deleted", "updated", "created"]
    assert all(r["table_name"] == "LiteLLM_TeamMembership" for r in membership)
    assert membership[1]["updated_values"]["role"] == "admin"
    assert membership[1]["before_value"]["role"] == "user"
    for user_id in (new_user, *bulk):
        assert [r["action"] for r in _records(api, user_id)] == ["created"]
    for user_id in bulk:
        assert [r["action"] for r in _records(api, f"{team_id}:{user_id}")] == ["created"]
    # The team itself did not change: its only record is its creation
    assert [r["action"] for r in _records(api, team_id)] == ["created"]


def test_user_and_key_routes_write_one_record_each(api):
    user = api.new_user()
    assert [r["table_name"] for r in _records(api, user["user_id"])] == ["LiteLLM_UserTable"]
    first_key = _records(api, _token(user["key"]))
    assert [r["action"] for r in first_key] == ["created"]
    key = api.new_key(user_id=user["user_id"])
    api.ok(api.post("/key/delete", {"keys": [key["token"]]}))
    records = _records(api, key["token"])
    assert [(r["action"], r["table_name"]) for r in records] == [
        ("deleted", "LiteLLM_VerificationToken"), ("created", "LiteLLM_VerificationToken")]


def test_team_delete_writes_a_record_per_team_membership_and_key(api):
    member = api.new_user()
    team_id = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])["team_id"]
    key = api.new_key(team_id=team_id)
    api.ok(api.post("/team/delete", {"team_ids": [team_id]}))
    assert [r["action"] for r in _records(api, team_id)] == ["deleted", "created"]
    assert [r["action"] for r in _records(api, f"{team_id}:{member['user_id']}")] == [
        "deleted", "created"]
    assert [r["action"] for r in _records(api, key["token"])] == ["deleted", "created"]


def _token(raw: str) -> str:
    from teamledger.domain.callers import token_of

    return token_of(raw)


# --- a failed transaction leaves no record -----------------------------------------------

def failing_commits(monkeypatch) -> None:
    """Every transaction also checks an item that does not exist, so DynamoDB cancels it."""
    original = table.Transaction.commit

    def commit(self):
        self.check({"PK": "NO#SUCH", "SK": "ITEM"}, "attribute_exists(PK)")
        return original(self)

    monkeypatch.setattr(retry, "ATTEMPTS", 2)
    monkeypatch.setattr(table.Transaction, "commit", commit)


def assert_busy(reply) -> None:
    """A cancelled transaction is a 503 `{"detail": {"error": "... retry"}}`: nothing was
    written and the same request may succeed when sent again."""
    assert reply.status == 503, reply
    assert set(reply.body) == {"detail"} and set(reply.body["detail"]) == {"error"}, reply
    assert "retry" in reply.body["detail"]["error"], reply


FAILING = [
    ("team/update", lambda api, t: ("/team/update", {"team_id": t, "max_budget": 1})),
    ("team/block", lambda api, t: ("/team/block", {"team_id": t})),
    ("team/model/add", lambda api, t: ("/team/model/add", {"team_id": t, "models": ["m"]})),
    ("team/member_add", lambda api, t: ("/team/member_add", {
        "team_id": t, "member": {"user_id": f"never-{_uid()}"}})),
    ("team/delete", lambda api, t: ("/team/delete", {"team_ids": [t]})),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=name) for name, m in FAILING])
def test_a_failed_transaction_writes_no_record_and_no_change(api, make, monkeypatch):
    # Given a team, and a valid change of it whose every transaction DynamoDB cancels
    team_id = api.new_team()["team_id"]
    before = api.ok(api.get("/team/info", query={"team_id": team_id}))
    path, body = make(api, team_id)
    # When the change is sent
    with monkeypatch.context() as patch:
        failing_commits(patch)
        reply = api.post(path, body)
    # Then it is "busy, retry" (the request was fine; its commit lost), not a 400
    assert_busy(reply)
    # And no record and no change was written
    assert len(_stored(team_id)) == 1  # its creation only
    assert api.ok(api.get("/team/info", query={"team_id": team_id})) == before


def test_failed_user_new_writes_no_record(api, monkeypatch):
    # Given a new user whose creation DynamoDB cancels
    user_id = f"never-{_uid()}"
    # When it is sent
    with monkeypatch.context() as patch:
        failing_commits(patch)
        reply = api.post("/user/new", {"user_id": user_id})
    # Then it is "busy, retry", and neither the user nor a record exists
    assert_busy(reply)
    assert _stored(user_id) == []
    assert api.get("/user/info", query={"user_id": user_id}).status == 404


# --- GET /audit ----------------------------------------------------------------------------

def test_audit_filters_by_changer_table_and_action(api):
    changer = f"auditor-{_uid()}"
    headers = {"litellm-changed-by": changer}
    team_id = api.new_team()["team_id"]
    user_id = f"audited-{_uid()}"
    api.ok(api.post("/team/update", {"team_id": team_id, "tpm_limit": 5}, headers=headers))
    api.ok(api.post("/team/member_add", {"team_id": team_id, "member": {"user_id": user_id}},
                    headers=headers))
    api.ok(api.post("/team/block", {"team_id": team_id}, headers=headers))
    mine = api.ok(api.get("/audit", query={"changed_by": changer}))["data"]
    assert [(r["action"], r["table_name"]) for r in mine] == [
        ("blocked", "LiteLLM_TeamTable"), ("created", "LiteLLM_TeamMembership"),
        ("created", "LiteLLM_UserTable"), ("updated", "LiteLLM_TeamTable")]
    teams = api.ok(api.get("/audit", query={"changed_by": changer,
                                             "table_name": "LiteLLM_TeamTable"}))["data"]
    assert [r["action"] for r in teams] == ["blocked", "updated"]
    blocked = api.ok(api.get("/audit", query={"changed_by": changer, "action": "blocked"}))
    assert [r["object_id"] for r in blocked["data"]] == [team_id]
    by_table = api.ok(api.get("/audit", query={"table_name": "LiteLLM_TeamMembership",
                                                "action": "created", "limit": "100"}))["data"]
    assert f"{team_id}:{user_id}" in [r["object_id"] for r in by_table]
    assert all(r["table_name"] == "LiteLLM_TeamMembership" for r in by_table)
    assert api.ok(api.get("/audit", query={"object_id": team_id, "action": "blocked"}))[
        "data"][0]["changed_by"] == changer


def test_audit_pages_by_cursor_newest_first_and_time_range(api):
    team_id = api.new_team()["team_id"]
    for n in range(6):
        api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": n + 1}))
    every = _records(api, team_id)
    assert len(every) == 7
    assert [r["updated_at"] for r in every] == sorted((r["updated_at"] for r in every),
                                                      reverse=True)
    walked, cursor = [], None
    while True:
        query = {"object_id": team_id, "limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = api.ok(api.get("/audit", query=query))
        walked += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == every
    # start and end are inclusive
    middle = every[2:5]
    ranged = api.ok(api.get("/audit", query={
        "object_id": team_id, "start": middle[-1]["updated_at"],
        "end": middle[0]["updated_at"]}))["data"]
    assert ranged == middle
    # The whole log (no filter) pages the same way
    first = api.ok(api.get("/audit", query={"limit": "2"}))
    second = api.ok(api.get("/audit", query={"limit": "2", "cursor": first["next_cursor"]}))
    assert first["data"][-1]["updated_at"] >= second["data"][0]["updated_at"]
    assert not {r["id"] for r in first["data"]} & {r["id"] for r in second["data"]}


@pytest.mark.parametrize("query", [
    {"cursor": "not-a-cursor"},
    {"object_id": "a", "cursor": "WzEsIm9iamVjdCIsIkFVRElUI2IiLCJ4Il0"},  # another object's
    {"start": "2026-11-27T10:00:00Z", "end": "2026-11-27T09:00:00Z"},
    # Valid times whose UTC falls outside years 1..9999 are clamped to the calendar's edges
    # (tests/integration/test_cursors_times_orders_ids.py); start after end is still a 400
    {"start": "9999-12-31T23:59:59-14:00", "end": "0001-01-01T00:00:00+14:00"},
])
def test_bad_cursor_or_range_is_400(api, query):
    reply = api.get("/audit", query=query)
    assert reply.status == 400
    assert reply.body["detail"]["error"]


def test_no_raw_key_in_any_audit_record(api):
    user = api.new_user()
    key = api.new_key(user_id=user["user_id"])
    api.ok(api.post("/key/delete", {"keys": [key["key"]]}))  # deleted by its raw key
    items = boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"])["Items"]
    text = json.dumps([i for i in items if i.get("entity", {}).get("S") == "audit"])
    for raw in (MASTER_KEY, user["key"], key["key"]):
        assert raw not in text
