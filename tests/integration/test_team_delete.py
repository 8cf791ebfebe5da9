"""Deleting a team takes its members, keys and user links with it, at any size, and a delete
that stops halfway is finished by repeating it."""

import os
import uuid

import boto3
from teamledger.store import table


def _table_items(prefix: str) -> list[dict]:
    client = boto3.client("dynamodb")
    items = []
    for page in client.get_paginator("scan").paginate(TableName=os.environ["TABLE_NAME"]):
        items += [i for i in page["Items"] if i["PK"]["S"].startswith(prefix)]
    return items


def _big_team(api, members: int, keys: int) -> tuple[str, list[str], list[str]]:
    team_id = f"big-{uuid.uuid4().hex[:8]}"
    api.new_team(team_id=team_id)
    user_ids = [api.new_user(teams=[team_id])["user_id"] for _ in range(members)]
    raw_keys = [api.new_key(team_id=team_id, user_id=user_ids[i % members])["key"]
                for i in range(keys)]
    return team_id, user_ids, raw_keys


def test_deleting_a_team_of_300_members_and_150_keys_removes_everything(api):
    # Given a team larger than one transaction can hold (300 members, 150 keys)
    team_id, user_ids, raw_keys = _big_team(api, members=300, keys=150)
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert len(info["team_memberships"]) == 301 and len(info["keys"]) == 150

    # When it is deleted
    assert api.ok(api.post("/team/delete", {"team_ids": [team_id]})) == {
        "deleted_teams": [team_id]}

    # Then the team, every member item and every key are gone, and its keys are refused
    assert _table_items(f"TEAM#{team_id}") == []
    assert api.get("/team/info", query={"team_id": team_id}).status == 404
    assert {api.get("/team/list", key=k).status for k in raw_keys[::10]} == {401}
    # and no user still lists it
    for user_id in user_ids[::25]:
        info = api.ok(api.get("/user/info", query={"user_id": user_id}))
        assert team_id not in info["user_info"]["teams"]
        assert all(k["team_id"] != team_id for k in info["keys"])
    # and each deleted object has exactly one audit record of its deletion
    deletions = [i for i in _table_items("AUDIT#")
                 if i["action"]["S"] == "deleted"
                 and i["object_id"]["S"].split(":")[0] in {team_id}]
    memberships = [i for i in deletions if i["table_name"]["S"] == "LiteLLM_TeamMembership"]
    assert len(memberships) == 301 == len({i["object_id"]["S"] for i in memberships})
    assert len([i for i in deletions if i["table_name"]["S"] == "LiteLLM_TeamTable"]) == 1


def test_a_delete_naming_an_unknown_team_deletes_nothing(api):
    team = api.new_team()
    key = api.new_key(team_id=team["team_id"])["key"]
    reply = api.post("/team/delete", {"team_ids": [team["team_id"], "no-such-team"]})
    assert reply.status == 404 and "no-such-team" in reply.body["detail"]["error"]
    assert api.get("/team/info", query={"team_id": team["team_id"]}).status == 200
    assert api.get("/team/info", query={"team_id": team["team_id"]}, key=key).status == 200


def test_an_interrupted_delete_is_finished_by_repeating_it(api, monkeypatch):
    # Given a team whose delete dies after its first cleanup transaction
    team_id, _, raw_keys = _big_team(api, members=60, keys=10)
    real_commit, commits = table.Transaction.commit, []

    def dying_commit(tx):
        commits.append(len(tx))
        if len(commits) == 3:  # mark deleting, first cleanup batch, then the crash
            raise ConnectionResetError("the function was stopped")
        return real_commit(tx)

    monkeypatch.setattr(table.Transaction, "commit", dying_commit)
    assert api.post("/team/delete", {"team_ids": [team_id]}).status == 500
    monkeypatch.setattr(table.Transaction, "commit", real_commit)

    # Then the team is already invisible and its keys refused
    assert api.get("/team/info", query={"team_id": team_id}).status == 404
    assert api.get("/team/list", key=raw_keys[0]).status == 401
    # When the same delete is sent again, it finishes the job
    assert api.ok(api.post("/team/delete", {"team_ids": [team_id]}))["deleted_teams"] == [
        team_id]
    assert _table_items(f"TEAM#{team_id}") == []
    # And a third time there is nothing left to delete
    assert api.post("/team/delete", {"team_ids": [team_id]}).status == 404
