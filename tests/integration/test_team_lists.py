"""The list routes against a table of their own: GET /v2/team/list (pages, cursors, sorts,
filters, exact totals, own teams only), GET /team/filter/ui (newest first) and GET /team/list
(memberships and keys, without one request per team), and the roster the lists show."""

import uuid

import pytest
from teamledger.store import teams as team_store

from tests.support import pages as lists
from tests.support.streams import SpendOrderFeed

PAGE = 7


def _expected(teams: list[dict], sort_by: str, descending: bool) -> list[str]:
    def key(team):
        value = {"team_alias": (team.get("team_alias") or "").lower(),
                 "created_at": team["created_at"], "spend": team["spend"]}[sort_by]
        return value, team["team_id"]

    return lists.ids(sorted(teams, key=key, reverse=descending))


@pytest.fixture
def teams(api, fresh_table) -> list[dict]:
    """17 teams: repeated aliases (ties), one without an alias, two organizations."""
    aliases = ["Beta", "alpha", "Gamma", "beta", None, "Platform-A", "platform-b", "delta",
               "Alpha", "beta", "epsilon", "zeta", "Eta", "theta", "iota", "kappa", "PLATFORM"]
    made = []
    for n, alias in enumerate(aliases):
        fields = {"team_id": f"t{(n * 7) % 17:02d}-{uuid.uuid4().hex[:4]}"}
        if alias:
            fields["team_alias"] = alias
        if n % 3 == 0:
            fields["organization_id"] = "org-1"
        made.append(api.new_team(**fields))
    return made


@pytest.mark.parametrize("sort_by", ["created_at", "team_alias", "spend"])
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_cursor_walk_sees_every_team_once_in_order(api, teams, sort_by, sort_order):
    # When an admin walks all pages by next_cursor
    pages = lists.walk(api, page_size=PAGE, sort_by=sort_by, sort_order=sort_order)
    # Then each team appears once, in the requested order, ties broken by team_id
    seen = [t for page in pages for t in lists.ids(page["teams"])]
    assert seen == _expected(teams, sort_by, sort_order == "desc")
    # And every page reports the exact total and its size, and the last has no cursor
    assert len(pages) == 3
    assert all((p["total"], p["page_size"], p["total_pages"]) == (17, PAGE, 3) for p in pages)
    assert [len(p["teams"]) for p in pages] == [7, 7, 3]


def test_pages_by_number_match_pages_by_cursor(api, teams):
    by_cursor = lists.walk(api, page_size=PAGE, sort_by="team_alias")
    by_number = [lists.page(api, page=n, page_size=PAGE, sort_by="team_alias") for n in (1, 2, 3)]
    assert [lists.ids(p["teams"]) for p in by_number] == [lists.ids(p["teams"]) for p in by_cursor]
    assert [p["next_cursor"] is None for p in by_number] == [False, False, True]
    # A page past the end is empty, with the same total
    beyond = lists.page(api, page=9, page_size=PAGE)
    assert (beyond["teams"], beyond["total"], beyond["next_cursor"]) == ([], 17, None)


def test_defaults_are_page_1_of_10_by_created_at(api, teams):
    page = lists.page(api)
    assert (page["page"], page["page_size"], page["total_pages"]) == (1, 10, 2)
    assert lists.ids(page["teams"]) == _expected(teams, "created_at", False)[:10]


def test_a_cursor_takes_precedence_overpage(api, teams):
    first = lists.page(api, page_size=5)
    second = lists.page(api, page_size=5, page=3, cursor=first["next_cursor"])
    assert second["page"] == 2
    assert lists.ids(second["teams"]) == _expected(teams, "created_at", False)[5:10]


def test_a_cursor_keeps_its_order_and_refuses_another(api, teams):
    first = lists.page(api, page_size=5, sort_by="team_alias", sort_order="desc")
    # Without sort parameters the cursor's own order goes on
    second = lists.page(api, page_size=5, cursor=first["next_cursor"])
    assert lists.ids(second["teams"]) == _expected(teams, "team_alias", True)[5:10]
    # With different ones it is a 400 that says so
    reply = api.get("/v2/team/list", query={"cursor": first["next_cursor"],
                                            "sort_by": "spend"})
    assert reply.status == 400 and "cursor" in reply.body["detail"]["error"]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "W10", "eyJhIjoxfQ", "%%%", "W1tdXQ"])
def test_a_cursor_this_service_did_not_make_is_400(api, teams, cursor):
    reply = api.get("/v2/team/list", query={"cursor": cursor})
    assert reply.status == 400
    assert "cursor" in reply.body["detail"]["error"]


def test_alias_filter_is_partial_and_case_insensitive_with_exact_total(api, teams):
    expected = [t for t in teams if "platform" in (t.get("team_alias") or "").lower()]
    pages = lists.walk(api, page_size=2, team_alias="pLaTfOrM", sort_by="team_alias")
    assert [t for p in pages for t in lists.ids(p["teams"])] == _expected(expected, "team_alias",
                                                                      False)
    assert {p["total"] for p in pages} == {3}
    assert len(pages) == 2


def test_organization_filter_and_default_organization(api, teams):
    in_org = [t for t in teams if t.get("organization_id") == "org-1"]
    page = lists.page(api, organization_id="org-1", page_size=100)
    assert (lists.ids(page["teams"]), page["total"]) == (_expected(in_org, "created_at", False), 6)
    none = lists.page(api, organization_id="default_organization", page_size=100)
    assert none["total"] == 11
    assert not set(lists.ids(none["teams"])) & set(lists.ids(in_org))


def test_team_id_filter(api, teams):
    page = lists.page(api, team_id=teams[3]["team_id"])
    assert (lists.ids(page["teams"]), page["total"], page["next_cursor"]) == (
        [teams[3]["team_id"]], 1, None)
    assert lists.page(api, team_id="no-such-team")["teams"] == []


def test_spend_order_follows_spend_once_the_consumer_places_it(api, teams, fresh_table):
    # Given two teams that spend, reported as a gateway reports it
    feed = SpendOrderFeed(fresh_table)
    for team, spend in ((teams[4], 12.5), (teams[9], 0.25), (teams[4], 0.5)):
        key = api.new_key(team_id=team["team_id"])
        api.ok(api.post("/spend/track", {"token": key["token"], "spend": spend}))
    teams[4]["spend"], teams[9]["spend"] = 13.0, 0.25
    # When the spend-order consumer takes the stream's batch: one write per team, however
    # many reports it had
    assert feed.deliver() == 2
    # Then spend order puts them last, ascending, the page showing their spend
    pages = lists.walk(api, page_size=PAGE, sort_by="spend")
    ids = [t for p in pages for t in lists.ids(p["teams"])]
    assert ids[-2:] == [teams[9]["team_id"], teams[4]["team_id"]]
    assert ids == _expected(teams, "spend", False)
    assert pages[-1]["teams"][-1]["spend"] == 13.0
    # and descending puts the biggest first
    first = lists.page(api, sort_by="spend", sort_order="desc", page_size=1)["teams"][0]
    assert first["team_id"] == teams[4]["team_id"]


def test_a_deleted_team_leaves_pages_and_total(api, teams):
    api.ok(api.post("/team/delete", {"team_ids": [teams[0]["team_id"]]}))
    pages = lists.walk(api, page_size=PAGE)
    assert teams[0]["team_id"] not in [t for p in pages for t in lists.ids(p["teams"])]
    assert pages[0]["total"] == 16


def test_a_member_sees_only_their_teams(api, teams):
    # Given a user in two of the teams, one as admin
    user = api.new_user()
    for team, role in ((teams[2], "user"), (teams[11], "admin")):
        api.ok(api.post("/team/member_add", {"team_id": team["team_id"], "member": {
            "user_id": user["user_id"], "role": role}}))
    mine = [teams[2], teams[11]]
    # When they list, with every sort
    for sort_by in ("created_at", "team_alias", "spend"):
        pages = lists.walk(api, user["key"], page_size=1, sort_by=sort_by, sort_order="desc")
        # Then they page through their own teams only, with the total of their own
        assert [t for p in pages for t in lists.ids(p["teams"])] == _expected(mine, sort_by, True)
        assert {p["total"] for p in pages} == {2}
    # And asking for all teams of someone else gives only the teams shared with them
    other = api.new_user()
    api.ok(api.post("/team/member_add", {"team_id": teams[11]["team_id"], "member": {
        "user_id": other["user_id"], "role": "user"}}))
    shared = lists.page(api, user["key"], user_id=other["user_id"])
    assert (lists.ids(shared["teams"]), shared["total"]) == ([teams[11]["team_id"]], 1)
    # And an admin listing that user's teams sees both of them
    found = lists.page(api, user_id=user["user_id"])["teams"]
    assert sorted(lists.ids(found)) == sorted(lists.ids(mine))


def test_a_team_key_lists_its_own_team(api, teams):
    key = api.new_key(team_id=teams[5]["team_id"])["key"]
    page = lists.page(api, key)
    assert (lists.ids(page["teams"]), page["total"]) == ([teams[5]["team_id"]], 1)


def test_list_pages_show_the_members_as_they_change(api, fresh_table):
    # Given a team with an admin, to which two members are added
    admin, first, second = api.new_user(), api.new_user(), api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": admin["user_id"], "role": "admin"}])
    for user in (first, second):
        api.ok(api.post("/team/member_add", {"team_id": team["team_id"], "member": {
            "user_id": user["user_id"], "role": "user"}}))
    # When one is promoted and the other removed
    api.ok(api.post("/team/member_update", {"team_id": team["team_id"],
                                            "user_id": first["user_id"], "role": "admin"}))
    api.ok(api.post("/team/member_delete", {"team_id": team["team_id"],
                                            "user_id": second["user_id"]}))
    # Then every list shows what /team/info shows
    info = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))["team_info"]
    listed = lists.page(api)["teams"][0]
    searched = api.ok(api.get("/team/filter/ui"))[0]
    full = api.ok(api.get("/team/list"))[0]
    for shown in (listed, searched, full):
        assert shown["members_with_roles"] == info["members_with_roles"] == [
            {"user_id": "default_user_id", "user_email": None, "role": "admin"},
            {"user_id": admin["user_id"], "user_email": None, "role": "admin"},
            {"user_id": first["user_id"], "user_email": None, "role": "admin"}]
        assert shown["admins"] == info["admins"]


def test_the_roster_stops_at_its_limit_and_info_has_everyone(api, fresh_table, monkeypatch):
    monkeypatch.setattr(team_store, "ROSTER_LIMIT", 3)
    team = api.new_team()  # default_user_id is the first member
    added = api.ok(api.post("/team/bulk_member_add", {"team_id": team["team_id"], "members": [
        {"user_id": f"u{n}-{uuid.uuid4().hex[:6]}", "role": "user"} for n in range(4)]}))
    assert added["successful_additions"] == 4
    listed = lists.page(api)["teams"][0]
    info = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))["team_info"]
    assert len(info["members_with_roles"]) == 5
    assert listed["members_with_roles"] == info["members_with_roles"][:3]


# --- /team/filter/ui ---------------------------------------------------------------------

def test_filter_ui_is_newest_first_with_pages(api, teams):
    newest_first = _expected(teams, "created_at", True)
    assert lists.ids(api.ok(api.get("/team/filter/ui"))) == newest_first
    second = api.ok(api.get("/team/filter/ui", query={"page": "2", "page_size": "5"}))
    assert lists.ids(second) == newest_first[5:10]


def test_filter_ui_matches_alias_partially_and_team_id_exactly(api, teams):
    found = api.ok(api.get("/team/filter/ui", query={"team_alias": "BETA"}))
    assert lists.ids(found) == [t for t in _expected(teams, "created_at", True)
                           if (dict((x["team_id"], x) for x in teams)[t].get("team_alias")
                               or "").lower() == "beta"]
    one = api.ok(api.get("/team/filter/ui", query={"team_id": teams[1]["team_id"]}))
    assert lists.ids(one) == [teams[1]["team_id"]]
    assert api.ok(api.get("/team/filter/ui", query={"team_id": teams[1]["team_id"],
                                                    "team_alias": "zzz"})) == []


# --- /team/list --------------------------------------------------------------------------

def test_team_list_has_each_teams_memberships_and_keys(api, teams):
    # Given a member with a budget and a key in one team
    user = api.new_user()
    api.ok(api.post("/team/member_add", {"team_id": teams[6]["team_id"], "max_budget_in_team": 5,
                                         "member": {"user_id": user["user_id"]}}))
    key = api.new_key(team_id=teams[6]["team_id"], key_alias="listed")
    # When everything is listed
    listed = api.ok(api.get("/team/list"))
    # Then every team is there once, sorted by alias, with its own memberships and keys
    assert [t["team_id"] for t in listed] == _expected(teams, "team_alias", False)
    six = next(t for t in listed if t["team_id"] == teams[6]["team_id"])
    assert [k["token"] for k in six["keys"]] == [key["token"]]
    budgets = {m["user_id"]: m["litellm_budget_table"] for m in six["team_memberships"]}
    assert budgets[user["user_id"]]["max_budget"] == 5
    assert all(t["keys"] == [] for t in listed if t["team_id"] != teams[6]["team_id"])
    # And a user's own list is the same for their teams, with their membership only
    own = api.ok(api.get("/team/list", query={"user_id": user["user_id"]}, key=user["key"]))
    assert own == [six | {"team_memberships": [
        m for m in six["team_memberships"] if m["user_id"] == user["user_id"]]}]
    assert len(own[0]["team_memberships"]) == 1 < len(six["team_memberships"])


def test_team_list_organization_filter(api, teams):
    listed = api.ok(api.get("/team/list", query={"organization_id": "org-1"}))
    assert sorted(t["team_id"] for t in listed) == sorted(
        t["team_id"] for t in teams if t.get("organization_id") == "org-1")
