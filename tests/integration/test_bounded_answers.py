"""Bounded answers: /team/info answers a team's first 1,000 members and a cursor,
GET /team/members pages the rest, and /team/list refuses (400, pointing to /v2/team/list) an
answer that would pass its limit, instead of growing past Lambda's 6 MB."""

import uuid

import pytest
from teamledger import cursors, sizes
from teamledger.domain import teams as team_domain

from tests.support.client import MASTER_KEY


def _team_with_members(api, count: int, key: str = MASTER_KEY) -> tuple[str, list[str]]:
    """A team of `count` members besides its creator, added in bulk (500 a request)."""
    team = api.new_team(key=key)
    added = [f"m{n:04d}-{uuid.uuid4().hex[:6]}" for n in range(count)]
    for start in range(0, count, 500):
        reply = api.ok(api.post("/team/bulk_member_add", {"team_id": team["team_id"], "members": [
            {"user_id": u, "role": "user"} for u in added[start:start + 500]]}))
        assert reply["failed_additions"] == 0
    return team["team_id"], added


def _members(api, team_id: str, key: str = MASTER_KEY) -> tuple[dict, list[dict]]:
    """/team/info, then every /team/members page its cursor leads to."""
    info = api.ok(api.get("/team/info", query={"team_id": team_id}, key=key))
    pages, cursor = [], info["members_next_cursor"]
    while cursor is not None:
        page = api.ok(api.get("/team/members", query={"team_id": team_id, "cursor": cursor},
                              key=key))
        pages.append(page)
        cursor = page["next_cursor"]
    return info, pages


def test_a_team_of_1001_members_answers_1000_and_a_cursor_to_the_rest(api):
    # Given a team with 1,002 members (its creator and 1,001 added)
    team_id, added = _team_with_members(api, 1001)
    everyone = sorted([*added, "default_user_id"])
    # When its info is read and the cursor followed
    info, pages = _members(api, team_id)
    # Then /team/info shows the first 1,000 by user id, both as members and as memberships
    memberships = [m["user_id"] for m in info["team_memberships"]]
    assert memberships == everyone[:1000]
    assert sorted(m["user_id"] for m in info["team_info"]["members_with_roles"]) == memberships
    # and one /team/members page the 2 left, with no cursor after it
    assert len(pages) == 1 and pages[0]["next_cursor"] is None
    assert [m["user_id"] for m in pages[0]["team_memberships"]] == everyone[1000:]
    assert [m["user_id"] for m in pages[0]["members"]] == everyone[1000:]
    assert all(m["role"] == "user" for m in pages[0]["members"])
    assert all(m["team_id"] == team_id for m in pages[0]["team_memberships"])
    # And a change of the team answers its first 1,000 members in join order, no more
    updated = api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": "big"}))
    assert [m["user_id"] for m in updated["data"]["members_with_roles"]] == [
        "default_user_id", *added[:999]]


def test_members_page_through_a_team_without_losing_or_repeating_one(api, monkeypatch):
    # Given pages of 3 members, and a team of 8 members with spend and budgets
    monkeypatch.setattr(team_domain, "MEMBERS_PAGE", 3)
    team_id, added = _team_with_members(api, 7)
    api.ok(api.post("/team/member_update", {"team_id": team_id, "user_id": added[4],
                                            "max_budget_in_team": 12}))
    # When the team's info is read and every cursor followed
    info, pages = _members(api, team_id)
    # Then every member shows once, in user id order, with the same entries as /team/info's
    shown = info["team_memberships"] + [m for p in pages for m in p["team_memberships"]]
    assert [m["user_id"] for m in shown] == sorted([*added, "default_user_id"])
    assert [len(p["team_memberships"]) for p in pages] == [3, 2]
    assert pages[-1]["next_cursor"] is None
    budgeted = next(m for m in shown if m["user_id"] == added[4])
    assert budgeted["litellm_budget_table"]["max_budget"] == 12
    assert all(m["spend"] == 0.0 for m in shown)
    # And without a cursor, /team/members starts at the first member
    first = api.ok(api.get("/team/members", query={"team_id": team_id}))
    assert first["team_memberships"] == info["team_memberships"]
    assert first["next_cursor"] == info["members_next_cursor"]


def test_a_small_team_has_no_members_cursor(api):
    team_id, added = _team_with_members(api, 2)
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert info["members_next_cursor"] is None
    assert len(info["team_memberships"]) == 3


@pytest.mark.parametrize("cursor", [
    "not a cursor",
    cursors.encode([2, "<team>", "u"]),  # another version
    cursors.encode([1, "<team>"]),  # too short
    cursors.encode([1, "<team>", ""]),  # no user id
    cursors.encode([1, "<team>", "u" * (sizes.ID_BYTES + 1)]),
    cursors.encode([1, "another-team", "u"]),  # another team's
])
def test_a_bad_members_cursor_is_400_and_says_so(api, cursor):
    team = api.new_team()
    reply = api.get("/team/members", query={"team_id": team["team_id"],
                                            "cursor": cursor.replace("<team>", team["team_id"])})
    assert reply.status == 400, reply
    assert "cursor" in reply.body["detail"]["error"]


def test_team_list_past_its_limit_is_400_pointing_to_the_paged_list(api, fresh_table,
                                                                    monkeypatch):
    # Given teams whose /team/list answer would pass the limit (lowered for the test)
    for _ in range(3):
        _team_with_members(api, 3)
    monkeypatch.setattr(sizes, "LIST_ANSWER_BYTES", 4 * sizes.ANSWER_ENTRY_BYTES)
    # When /team/list is asked for all of them
    reply = api.get("/team/list")
    # Then it refuses with a 400 that names /v2/team/list, and the paged list still answers
    assert reply.status == 400, reply
    assert "/v2/team/list" in reply.body["detail"]["error"]
    assert api.ok(api.get("/v2/team/list"))["total"] == 3


def test_team_list_under_its_limit_answers_everything(api, fresh_table):
    for _ in range(2):
        _team_with_members(api, 3)
    listed = api.ok(api.get("/team/list"))
    assert [len(t["team_memberships"]) for t in listed] == [4, 4]


# --- pages end early rather than pass the bound; answers without pages refuse ------------

def test_a_v2_team_list_page_past_the_bound_ends_early_and_its_cursor_goes_on(
        api, fresh_table, monkeypatch):
    # Given 3 teams, and a page bound (lowered for the test) that holds about one of them
    team_ids = {_team_with_members(api, 2)[0] for _ in range(3)}
    monkeypatch.setattr(sizes, "PAGE_ANSWER_BYTES", 3 * sizes.ANSWER_ENTRY_BYTES)
    # When pages of 10 are walked by their cursors
    pages, cursor = [], None
    while True:
        page = api.ok(api.get("/v2/team/list", query={"page_size": "10"} | (
            {"cursor": cursor} if cursor else {})))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Then each page holds one team, and together they hold every team once
    assert [len(p["teams"]) for p in pages] == [1, 1, 1]
    assert {t["team_id"] for p in pages for t in p["teams"]} == team_ids
    assert all(p["total"] == 3 for p in pages)


def test_an_audit_page_past_the_bound_ends_early_and_its_cursor_goes_on(api, monkeypatch):
    # Given a team changed 3 times after its creation (4 records), and a page bound that holds
    # about one record
    team_id = api.new_team()["team_id"]
    for n in range(3):
        api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": f"alias-{n}"}))
    monkeypatch.setattr(sizes, "PAGE_ANSWER_BYTES", 3 * sizes.ANSWER_ENTRY_BYTES)
    # When pages of 50 are walked
    pages, cursor = [], None
    while True:
        page = api.ok(api.get("/audit", query={"object_id": team_id} | (
            {"cursor": cursor} if cursor else {})))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Then each page holds one record, newest first, and none is lost
    assert [len(p["data"]) for p in pages] == [1, 1, 1, 1]
    assert [p["data"][0]["action"] for p in pages] == ["updated"] * 3 + ["created"]


def test_a_key_list_page_of_full_objects_past_the_bound_is_400(api, monkeypatch):
    team_id = api.new_team()["team_id"]
    for _ in range(3):
        api.new_key(team_id=team_id)
    monkeypatch.setattr(sizes, "PAGE_ANSWER_BYTES", 2 * sizes.ANSWER_ENTRY_BYTES)
    query = {"team_id": team_id, "return_full_object": "true", "size": "3"}
    reply = api.get("/key/list", query=query)
    assert reply.status == 400, reply
    assert "smaller size" in reply.body["detail"]["error"]
    # tokens only, or a page that fits, still answer
    assert len(api.ok(api.get("/key/list", query=query | {"return_full_object": "false"}))[
        "keys"]) == 3
    assert len(api.ok(api.get("/key/list", query=query | {"size": "1"}))["keys"]) == 1


def test_team_info_of_a_team_whose_keys_pass_the_bound_is_400_pointing_to_key_list(
        api, monkeypatch):
    team_id = api.new_team()["team_id"]
    for _ in range(3):
        api.new_key(team_id=team_id)
    monkeypatch.setattr(sizes, "TEAM_KEYS_ANSWER_BYTES", 2 * sizes.ANSWER_ENTRY_BYTES)
    reply = api.get("/team/info", query={"team_id": team_id})
    assert reply.status == 400, reply
    assert "/key/list?team_id=" in reply.body["detail"]["error"]


def test_user_info_past_the_bound_is_400_pointing_to_the_paged_lists(api, monkeypatch):
    user = api.new_user()
    for _ in range(2):
        api.new_team(members_with_roles=[{"user_id": user["user_id"], "role": "user"}])
    monkeypatch.setattr(sizes, "LIST_ANSWER_BYTES", 2 * sizes.ANSWER_ENTRY_BYTES)
    reply = api.get("/user/info", query={"user_id": user["user_id"]})
    assert reply.status == 400, reply
    assert "/v2/team/list?user_id=" in reply.body["detail"]["error"]


@pytest.mark.parametrize("path", ["/team/filter/ui", "/user/list"])
def test_a_page_without_cursor_past_the_bound_is_400_asking_a_smaller_page_size(
        api, monkeypatch, path):
    # Given at least 3 teams and users, and a page bound that holds about one of them
    for _ in range(3):
        api.new_team(members_with_roles=[{"user_id": api.new_user()["user_id"]}])
    monkeypatch.setattr(sizes, "PAGE_ANSWER_BYTES", 3 * sizes.ANSWER_ENTRY_BYTES)
    # When a page of 3 is asked, then it is 400; a page of 1 answers
    reply = api.get(path, query={"page_size": "3"})
    assert reply.status == 400, reply
    assert "smaller page_size" in reply.body["detail"]["error"]
    api.ok(api.get(path, query={"page_size": "1"}))
