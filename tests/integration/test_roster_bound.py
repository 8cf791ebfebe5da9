"""The roster's bounds against moto (issue 13, defect 2): a team of 476 members and a bulk add
of 500 once ended with a 976-entry roster (each chunk reckoned its room from the team as read
at the start), and 500 members with long ids and emails make a roster bigger than DynamoDB's
400 KB item. The roster (the copy of a team's first members that list pages show) holds at most
500 entries and stays far under 400 KB; every member is added all the same, and a team at its
bound is updated, blocked and deleted like any other. (Adds that race: tests/unit's
test_roster_bound.py and, over HTTP with four worker processes, tests/e2e/test_roster_race.py.)"""

import os
import uuid

import boto3

from bench.capacity_model import item_size
from tests.support.rosters import DYNAMODB_ITEM_LIMIT, ROSTER_LIMIT, roster_item


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _roster_item(team_id: str) -> dict:
    return roster_item(boto3.client("dynamodb"), os.environ["TABLE_NAME"], team_id)


def _roster_entries(team_id: str) -> int:
    return len(_roster_item(team_id)["roster"]["M"])


def _listed_members(api, team_id: str) -> list[str]:
    """The team's members as a list page shows them (from its roster)."""
    page = api.ok(api.get("/v2/team/list", query={"team_id": team_id}))
    (team,) = page["teams"]
    return _ids(team)


def _ids(team: dict) -> list[str]:
    """The members in join order (`members` itself stays [], as in LiteLLM)."""
    return [m["user_id"] for m in team["members_with_roles"]]


def _bulk(api, team_id: str, members: list[dict], per_request: int = 500) -> int:
    """Adds `members` in bulk adds of `per_request`; how many were added."""
    added = 0
    for start in range(0, len(members), per_request):
        reply = api.ok(api.post("/team/bulk_member_add", {
            "team_id": team_id, "members": members[start:start + per_request]}))
        assert reply["failed_additions"] == 0, [r for r in reply["results"] if not r["success"]]
        added += reply["successful_additions"]
    return added


def _long_members(count: int, char: str, tag: str) -> list[dict]:
    """Members with the longest id (256 bytes) and email (320 bytes) there are, in `char`s
    (1 to 4 bytes each in UTF-8)."""
    width = len(char.encode())
    prefix = [f"{tag}{n:04d}" for n in range(count)]
    return [{"user_id": p + char * ((256 - len(p)) // width),
             "user_email": p + char * ((308 - len(p)) // width) + "@example.com"}
            for p in prefix]


def _still_managed(api, team_id: str) -> None:
    """The team is updated, blocked (its key refused), unblocked and deleted like any other."""
    key = api.new_key(team_id=team_id)["key"]
    api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": "at the bound",
                                     "max_budget": 10}))
    api.ok(api.post("/team/block", {"team_id": team_id}))
    assert api.get("/team/info", query={"team_id": team_id}, key=key).status == 401
    api.ok(api.post("/team/unblock", {"team_id": team_id}))
    assert api.get("/team/info", query={"team_id": team_id}, key=key).status == 200
    api.ok(api.post("/team/delete", {"team_ids": [team_id]}))
    assert api.get("/team/info", query={"team_id": team_id}).status == 404


def test_a_bulk_add_of_500_to_a_team_of_476_stops_the_roster_at_500(api):
    # Given a team of 476 members (its creator and 475 more)
    team_id = api.new_team(team_id=f"bound-{_uid()}")["team_id"]
    _bulk(api, team_id, [{"user_id": f"old-{_uid()}"} for _ in range(475)])
    # When 500 more are added in one bulk add
    added = _bulk(api, team_id, [{"user_id": f"new-{n:03d}-{_uid()}"} for n in range(500)])
    # Then all 500 were added, and /team/info has all 976
    assert added == 500
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert len(_ids(info["team_info"])) == 976
    # And the roster holds exactly its 500: the first members, as the list pages show them
    assert _roster_entries(team_id) == ROSTER_LIMIT
    assert _listed_members(api, team_id) == _ids(info["team_info"])[:ROSTER_LIMIT]
    # And the team is managed as any other
    _still_managed(api, team_id)


def test_500_members_of_the_longest_kind_fit_on_a_roster_under_400_kb(api):
    # Given a team, and 500 members whose id and email are as long as they may be, in 4-byte
    # characters
    team_id = api.new_team(team_id=f"long-{_uid()}")["team_id"]
    members = _long_members(499, "\U0001F600", _uid())
    # When they are added in bulk (in requests of 100: a body holds 1 MiB, and JSON writes
    # each of these characters as 12 bytes: \ud83d\ude00)
    added = _bulk(api, team_id, members, per_request=100)
    # Then every one of them is a member, and on the roster, which stays under 400 KB
    assert added == 499
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert len(_ids(info["team_info"])) == ROSTER_LIMIT
    item = _roster_item(team_id)
    assert len(item["roster"]["M"]) == ROSTER_LIMIT
    assert item_size(item) <= DYNAMODB_ITEM_LIMIT
    assert _listed_members(api, team_id) == _ids(info["team_info"])
    # And the team is managed as any other
    _still_managed(api, team_id)


def test_the_roster_also_stops_at_its_bytes(api, monkeypatch):
    # Given a roster that may hold 20,000 bytes of entries (whatever the ids and emails of its
    # members: a user's email from before any limit in bytes, say)
    from teamledger.store import teams as team_store

    monkeypatch.setattr(team_store, "ROSTER_BYTES", 20_000)
    team_id = api.new_team(team_id=f"bytes-{_uid()}")["team_id"]
    # When 60 members of the longest kind are added in bulk
    assert _bulk(api, team_id, _long_members(60, "\U0001F600", _uid())) == 60
    # Then the roster holds what fits in its bytes, the first members, as the list shows
    item = _roster_item(team_id)
    entries = len(item["roster"]["M"])
    assert 10 < entries < 61
    assert int(item["roster_bytes"]["N"]) <= 20_000
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert _listed_members(api, team_id) == _ids(info["team_info"])[:entries]
