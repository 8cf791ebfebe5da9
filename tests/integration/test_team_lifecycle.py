"""The flows LiteLLM's own end-to-end tests run against /team/*, end to end through handlers."""

import uuid

from tests.support.client import MASTER_KEY


def test_create_info_update_delete_flow(api):
    # Given a team created with members and models
    member = api.new_user()
    team = api.new_team(team_alias="flow-team", models=["gpt-4o", "claude-3"],
                        members_with_roles=[{"user_id": member["user_id"], "role": "user"}],
                        max_budget=10.5, tpm_limit=1000, metadata={"env": "test"})
    team_id = team["team_id"]
    # Then the master key's default_user_id is its admin, next to the listed member
    roles = {m["user_id"]: m["role"] for m in team["members_with_roles"]}
    assert roles == {"default_user_id": "admin", member["user_id"]: "user"}
    assert team["admins"] == [] and team["members"] == []  # LiteLLM never fills them
    assert all(set(m) == {"user_id", "user_email", "role"} for m in team["members_with_roles"])

    # When it is read back, it is the same team with a membership per member
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert info["team_id"] == team_id
    assert info["team_info"] == team
    assert {m["user_id"] for m in info["team_memberships"]} == set(roles)

    # When only its alias is updated, every other field stays as it was
    updated = api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": "renamed"}))
    assert set(updated) == {"team_id", "data"} and updated["team_id"] == team_id
    unchanged = {k: v for k, v in team.items() if k not in ("team_alias", "updated_at")}
    assert {k: v for k, v in updated["data"].items() if k in unchanged} == unchanged
    assert updated["data"]["team_alias"] == "renamed"
    assert updated["data"]["updated_at"] > team["updated_at"]

    # When it is deleted, it is gone
    assert api.ok(api.post("/team/delete", {"team_ids": [team_id]})) == {
        "deleted_teams": [team_id]}
    missing = api.get("/team/info", query={"team_id": team_id})
    assert missing.status == 404 and "not found" in missing.body["detail"]["error"]


def test_user_info_lists_teams_and_drops_deleted_ones(api):
    user = api.new_user()
    first = api.new_team(members_with_roles=[{"user_id": user["user_id"]}])
    second = api.new_team(members_with_roles=[{"user_id": user["user_id"], "role": "admin"}])

    info = api.ok(api.get("/user/info", query={"user_id": user["user_id"]}))
    assert set(info["user_info"]["teams"]) == {first["team_id"], second["team_id"]}
    assert {t["team_id"] for t in info["teams"]} == {first["team_id"], second["team_id"]}

    api.ok(api.post("/team/delete", {"team_ids": [first["team_id"]]}))
    info = api.ok(api.get("/user/info", query={"user_id": user["user_id"]}))
    assert info["user_info"]["teams"] == [second["team_id"]]
    assert [t["team_id"] for t in info["teams"]] == [second["team_id"]]


def test_team_key_reads_its_own_team_only(api):
    own, other = api.new_team(), api.new_team()
    team_key = api.new_key(team_id=own["team_id"])
    assert team_key["team_id"] == own["team_id"] and team_key["user_id"] is None

    assert api.get("/team/info", query={"team_id": own["team_id"]},
                   key=team_key["key"]).status == 200
    refused = api.get("/team/info", query={"team_id": other["team_id"]}, key=team_key["key"])
    assert refused.status == 403


def test_members_given_by_email_are_linked_or_created(api):
    known = api.new_user(user_email=f"known-{uuid.uuid4().hex[:6]}@example.com")
    new_email = f"new-{uuid.uuid4().hex[:6]}@example.com"
    team = api.new_team(members_with_roles=[{"user_email": known["user_email"]},
                                            {"user_email": new_email, "role": "admin"}])
    by_email = {m["user_email"]: m for m in team["members_with_roles"]}
    assert by_email[known["user_email"]]["user_id"] == known["user_id"]
    created = by_email[new_email]["user_id"]
    user = api.ok(api.get("/user/info", query={"user_id": created}))["user_info"]
    assert user["user_role"] == "internal_user" and user["user_email"] == new_email


def test_block_and_unblock_take_effect_on_the_next_request(api):
    team = api.new_team()
    key = api.new_key(team_id=team["team_id"])["key"]
    query = {"team_id": team["team_id"]}
    assert api.get("/team/info", query=query, key=key).status == 200

    assert api.ok(api.post("/team/block", {"team_id": team["team_id"]}))["blocked"] is True
    blocked = api.get("/team/info", query=query, key=key)
    assert blocked.status == 401 and "blocked" in blocked.body["detail"]["error"]

    assert api.ok(api.post("/team/unblock", {"team_id": team["team_id"]}))["blocked"] is False
    assert api.get("/team/info", query=query, key=key).status == 200


def test_update_changes_only_sent_fields_and_budget_duration_starts_a_period(api):
    team = api.new_team(max_budget=5, metadata={"a": 1}, tags=["x"])
    assert team["metadata"] == {"a": 1, "tags": ["x"]}
    data = api.ok(api.post("/team/update", {"team_id": team["team_id"],
                                            "budget_duration": "1h"}))["data"]
    assert data["budget_duration"] == "1h" and data["budget_reset_at"] > data["updated_at"]
    assert data["max_budget"] == 5 and data["metadata"] == {"a": 1, "tags": ["x"]}
    data = api.ok(api.post("/team/update", {"team_id": team["team_id"],
                                            "budget_duration": None, "metadata": {"b": 2}}))["data"]
    assert data["budget_duration"] is None and data["budget_reset_at"] is None
    assert data["metadata"] == {"b": 2}


def test_duplicate_team_id_is_400(api):
    team = api.new_team()
    again = api.post("/team/new", {"team_id": team["team_id"]})
    assert again.status == 400 and "already exists" in again.body["detail"]["error"]


def test_key_lifecycle_never_returns_the_raw_key_again(api):
    user = api.new_user()
    created = api.new_key(user_id=user["user_id"], key_alias="ci")
    raw, token = created["key"], created["token"]
    assert raw.startswith("sk-") and created["key_name"] == f"sk-...{raw[-4:]}"

    for reply in (api.get("/key/info", query={"key": token}),
                  api.get("/key/info", query={"key": raw}),
                  api.get("/user/info", query={"user_id": user["user_id"]})):
        assert reply.status == 200 and raw not in str(reply.body)
    assert api.get("/key/info", key=raw).body["info"]["token"] == token

    deleted = api.ok(api.post("/key/delete", {"keys": [raw]}))
    assert deleted == {"deleted_keys": [token]}
    assert api.get("/key/info", key=raw).status == 401


def test_health_needs_no_key(api):
    reply = api.get("/health/liveliness", key=None)
    assert reply.status == 200


def test_missing_or_unknown_key_is_401(api):
    assert api.get("/team/list", key=None).status == 401
    assert api.get("/team/list", key="sk-unknown").status == 401
    assert api.get("/team/list", key=MASTER_KEY + "x").status == 401
