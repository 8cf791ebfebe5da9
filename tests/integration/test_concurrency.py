"""Concurrent requests, as separate Lambda execution environments make them: each worker is
its own process (Powertools' resolver is one request at a time per process, as in Lambda),
all against the same moto server. Nothing is lost, duplicates are refused atomically."""

import os
import uuid

import boto3
import pytest

from tests.support.workers import call, worker_pool

WORKERS = 8


@pytest.fixture(scope="module")
def pool(moto_endpoint):
    with worker_pool(WORKERS) as pool:
        yield pool


def _audit_records(object_id: str) -> list[dict]:
    items = boto3.client("dynamodb").query(
        TableName=os.environ["TABLE_NAME"], KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{object_id}"}})["Items"]
    return items


def test_concurrent_creates_of_one_team_id_make_one_team(api, pool):
    team_id = f"race-{uuid.uuid4().hex[:8]}"
    replies = list(pool.map(call, ["POST"] * 16, ["/team/new"] * 16,
                            [{"team_id": team_id, "team_alias": f"a{i}"} for i in range(16)]))
    statuses = sorted(status for status, _ in replies)
    assert statuses == [200] + [400] * 15, replies
    assert len(_audit_records(team_id)) == 1
    assert api.ok(api.get("/team/info", query={"team_id": team_id}))["team_id"] == team_id


def test_concurrent_keys_for_an_unknown_user_all_land_and_make_no_user(api, pool):
    user_id = f"racer-{uuid.uuid4().hex[:8]}"
    replies = list(pool.map(call, ["POST"] * 16, ["/key/generate"] * 16,
                            [{"user_id": user_id}] * 16))
    assert [status for status, _ in replies] == [200] * 16, replies
    tokens = {reply["token"] for _, reply in replies}
    assert len(tokens) == 16
    for token in tokens:
        assert api.ok(api.get("/key/info", query={"key": token}))["info"]["user_id"] == user_id
    # No user was made (as LiteLLM): their keys carry the id, and that is all
    assert api.get("/user/info", query={"user_id": user_id}).status == 404
    assert _audit_records(user_id) == []


def test_concurrent_updates_of_one_team_lose_nothing(api, pool):
    team = api.new_team()
    fields = ["tpm_limit", "rpm_limit", "max_parallel_requests", "max_budget",
              "team_alias", "organization_id", "models", "metadata"]
    values = [1, 2, 3, 4.5, "renamed", "org-1", ["m"], {"k": "v"}]
    bodies = [{"team_id": team["team_id"], f: v} for f, v in zip(fields, values, strict=True)]
    replies = list(pool.map(call, ["POST"] * len(bodies), ["/team/update"] * len(bodies),
                            bodies))
    assert [status for status, _ in replies] == [200] * len(bodies), replies
    final = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))["team_info"]
    assert {f: final[f] for f in fields} == dict(zip(fields, values, strict=True))
    updates = [i for i in _audit_records(team["team_id"]) if i["action"]["S"] == "updated"]
    assert len(updates) == len(bodies)


def test_concurrent_adds_of_different_users_to_one_team_all_land(api, pool):
    # Given a team, and 20 users who are not in it (new ids: each add creates its user too)
    team_id = api.new_team()["team_id"]
    user_ids = [f"joiner-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    # When they are all added at once, one request each
    bodies = [{"team_id": team_id, "member": {"user_id": u}} for u in user_ids]
    replies = list(pool.map(call, ["POST"] * 20, ["/team/member_add"] * 20, bodies))
    # Then every add succeeds and the team has every one of them
    assert [status for status, _ in replies] == [200] * 20, replies
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))["team_info"]
    assert {m["user_id"] for m in info["members_with_roles"]} == {"default_user_id", *user_ids}
    assert all(len(_audit_records(f"{team_id}:{u}")) == 1 for u in user_ids)


def test_concurrent_adds_of_one_user_give_one_200_and_seven_400s(api, pool):
    # Given a team and a user not in it
    team_id = api.new_team()["team_id"]
    user_id = api.new_user()["user_id"]
    # When the same add is sent 8 times at once
    body = {"team_id": team_id, "member": {"user_id": user_id}}
    replies = list(pool.map(call, ["POST"] * 8, ["/team/member_add"] * 8, [body] * 8))
    # Then one adds the member; the others are told they are already in
    statuses = sorted(status for status, _ in replies)
    assert statuses == [200] + [400] * 7, replies
    assert all("already a member" in reply["detail"]["error"]
               for status, reply in replies if status == 400)
    assert len(_audit_records(f"{team_id}:{user_id}")) == 1
