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


# --- GET /audit?team_id=: a team's timeline ------------------------------------------------

def _timeline(api, team_id: str, key: str = MASTER_KEY, **filters) -> list[dict]:
    """Every record of the team's timeline, walked page by page (newest first)."""
    records, cursor = [], None
    while True:
        query = {"team_id": team_id, "limit": "100"} | filters | (
            {"cursor": cursor} if cursor else {})
        page = api.ok(api.get("/audit", query=query, key=key))
        records += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return records


def _changes(records: list[dict]) -> list[tuple[str, str, str]]:
    return [(r["action"], r["table_name"], r["object_id"]) for r in records]


TEAM, MEMBERSHIP, KEY = "LiteLLM_TeamTable", "LiteLLM_TeamMembership", "LiteLLM_VerificationToken"


def test_a_teams_timeline_is_its_own_its_memberships_and_its_keys_records_newest_first(api):
    # Given a team changed every way, and another team changed meanwhile
    team_id = api.new_team()["team_id"]
    other = api.new_team()["team_id"]
    user_id = f"timeline-{_uid()}"
    api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": 5}))
    api.ok(api.post("/team/member_add", {"team_id": team_id, "member": {"user_id": user_id}}))
    api.ok(api.post("/team/member_update", {"team_id": team_id, "user_id": user_id,
                                            "role": "admin"}))
    key = api.new_key(team_id=team_id)["token"]
    api.ok(api.post("/team/update", {"team_id": other, "max_budget": 7}))
    api.new_key(team_id=other)
    api.ok(api.post("/key/update", {"key": key, "key_alias": "renamed"}))
    api.ok(api.post("/key/delete", {"keys": [key]}))
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": user_id}))

    # When its timeline is read
    records = _timeline(api, team_id)

    # Then it holds exactly its records, newest first, each with its before/after diff
    membership = f"{team_id}:{user_id}"
    assert _changes(records)[:-2] == [
        ("deleted", MEMBERSHIP, membership),
        ("deleted", KEY, key), ("updated", KEY, key), ("created", KEY, key),
        ("updated", MEMBERSHIP, membership), ("created", MEMBERSHIP, membership),
        ("updated", TEAM, team_id)]
    assert set(_changes(records)[-2:]) == {  # one transaction: a microsecond may tie them
        ("created", MEMBERSHIP, f"{team_id}:default_user_id"), ("created", TEAM, team_id)}
    assert [r["updated_at"] for r in records] == sorted(
        (r["updated_at"] for r in records), reverse=True)
    assert (records[2]["before_value"], records[2]["updated_values"]) == (
        {"key_alias": None}, {"key_alias": "renamed"})
    assert (records[4]["before_value"], records[4]["updated_values"]) == (
        {"role": "user"}, {"role": "admin"})
    # And the user made by member_add is no team's: not in it
    assert all(r["table_name"] != "LiteLLM_UserTable" for r in records)
    # And the other team's timeline has none of them
    assert not {r["id"] for r in records} & {r["id"] for r in _timeline(api, other)}


def test_a_teams_timeline_pages_and_filters_by_time_table_action_and_changer(api):
    # Given a team with nine records, one of them by "ops"
    team_id = api.new_team()["team_id"]
    for n in range(4):
        api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": n + 1}))
    for n in range(2):
        api.new_key(team_id=team_id, key_alias=f"k{n}")
    api.ok(api.post("/team/block", {"team_id": team_id},
                    headers={"litellm-changed-by": "ops"}))
    every = _timeline(api, team_id)
    assert len(every) == 9  # created, its first member, 4 updates, 2 keys, the block

    # When it is walked 3 at a time, the pages hold it all, once each, in order
    walked, cursor = [], None
    while True:
        query = {"team_id": team_id, "limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = api.ok(api.get("/audit", query=query))
        assert len(page["data"]) <= 3
        walked += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == every

    # And the filters select within the team's records
    middle = every[2:6]
    assert _timeline(api, team_id, start=middle[-1]["updated_at"],
                     end=middle[0]["updated_at"]) == middle
    assert [r["object_id"] for r in _timeline(api, team_id, table_name=KEY)] == [
        r["object_id"] for r in every if r["table_name"] == KEY]
    assert _changes(_timeline(api, team_id, action="blocked")) == [("blocked", TEAM, team_id)]
    assert _changes(_timeline(api, team_id, changed_by="ops")) == [("blocked", TEAM, team_id)]
    assert _timeline(api, team_id, changed_by="ops", action="created") == []


def test_a_filtered_page_reads_a_bounded_number_of_records(api, monkeypatch):
    # Given a team of 9 records, its 2 oldest `created`, and pages of one record that read 2
    # records per Query, 2 Queries at most
    from teamledger.store import audit as audit_store

    team_id = api.new_team()["team_id"]
    for n in range(6):
        api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": n + 1}))
    api.ok(api.post("/team/block", {"team_id": team_id}))
    monkeypatch.setattr(audit_store, "CHUNK", 2)
    monkeypatch.setattr(audit_store, "FILTERED_READS", 2)

    # When the oldest record's action is asked for
    first = api.ok(api.get("/audit", query={"team_id": team_id, "action": "created",
                                            "limit": "1"}))

    # Then the first page ends early, empty, with a cursor; walking on finds the records
    assert first["data"] == [] and first["next_cursor"]
    found = _timeline(api, team_id, action="created", limit="1")
    assert sorted(_changes(found)) == [("created", MEMBERSHIP, f"{team_id}:default_user_id"),
                                       ("created", TEAM, team_id)]


def test_a_moved_key_is_in_the_timeline_of_the_team_it_moves_to(api):
    # Given a key of one team, moved to another and renamed there
    source, target = api.new_team()["team_id"], api.new_team()["team_id"]
    key = api.new_key(team_id=source)["token"]
    api.ok(api.post("/key/update", {"key": key, "team_id": target}))
    api.ok(api.post("/key/update", {"key": key, "key_alias": "moved"}))
    # Then the source's timeline has its creation; the target's its move and what followed
    assert [r["action"] for r in _timeline(api, source) if r["object_id"] == key] == ["created"]
    arrived = [r for r in _timeline(api, target) if r["object_id"] == key]
    assert [r["updated_values"] for r in arrived] == [{"key_alias": "moved"},
                                                      {"team_id": target}]
    assert arrived[1]["before_value"] == {"team_id": source}


def test_a_deleted_teams_history_stays_readable_by_admins_and_viewers(api):
    # Given a team with a member and a key, deleted
    member = api.new_user()
    team_id = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])["team_id"]
    key = api.new_key(team_id=team_id)["token"]
    api.ok(api.post("/team/delete", {"team_ids": [team_id]}))
    viewer = api.new_user("proxy_admin_viewer")["key"]
    for caller in (MASTER_KEY, viewer):
        # When an admin or a viewer reads its timeline
        records = _timeline(api, team_id, key=caller)
        # Then the deletes of the team, its memberships and its key lead its whole history
        assert {(a, o) for a, _, o in _changes(records[:4])} == {
            ("deleted", team_id), ("deleted", f"{team_id}:{member['user_id']}"),
            ("deleted", f"{team_id}:default_user_id"), ("deleted", key)}
        assert ("created", TEAM, team_id) in _changes(records)[-3:]  # with its 2 members


@pytest.mark.parametrize(("query", "status"), [
    ({"object_id": "x"}, 400),  # one key per query: an object's or a team's
    ({"team_id": "never-a-team-here"}, 404),  # no team and no record
    ({"team_id": ""}, 422),
])
def test_team_id_refusals(api, query, status):
    team_id = api.new_team()["team_id"]
    reply = api.get("/audit", query={"team_id": team_id} | query)
    assert reply.status == status, reply
    assert reply.body["detail"]


def test_a_team_timelines_cursor_is_not_another_querys(api):
    # Given a cursor of a team's timeline
    team_id = api.new_team()["team_id"]
    api.ok(api.post("/team/update", {"team_id": team_id, "max_budget": 1}))
    cursor = api.ok(api.get("/audit", query={"team_id": team_id, "limit": "1"}))["next_cursor"]
    # Then it goes on under the team's timeline, and is a 400 for the whole log's
    assert api.ok(api.get("/audit", query={"team_id": team_id, "cursor": cursor}))["data"]
    reply = api.get("/audit", query={"cursor": cursor})
    assert reply.status == 400 and "cursor" in reply.body["detail"]["error"]
