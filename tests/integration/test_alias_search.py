"""Alias search (`team_alias` on GET /v2/team/list and GET /team/filter/ui): words of the alias
matched by prefix through the alias word index (O(matches), exact totals), the bounded
substring fallback with its cursor, and the index kept true by every change of a team."""

import os

import boto3
import pytest
from teamledger.store import alias_words, team_orders
from teamledger.store.marshal import from_item

from tests.support import pages as lists

MEMBERS = 15  # team/new's most members_with_roles


def _walked(pages: list[dict]) -> list[str]:
    return [t for p in pages for t in lists.ids(p["teams"])]


def _sorted(teams: list[dict], sort_by: str = "created_at", descending: bool = False) -> list[str]:
    def key(team):
        value = {"team_alias": (team.get("team_alias") or "").lower(),
                 "created_at": team["created_at"], "spend": team["spend"]}[sort_by]
        return value, team["team_id"]

    return lists.ids(sorted(teams, key=key, reverse=descending))


def _word_items(team_id: str | None = None) -> list[dict]:
    client = boto3.client("dynamodb")
    items = [from_item(i) for page in client.get_paginator("scan").paginate(
        TableName=os.environ["TABLE_NAME"]) for i in page["Items"]]
    return [i for i in items if i.get("entity") == "alias_word"
            and (team_id is None or i["team_id"] == team_id)]


@pytest.fixture
def teams(api, fresh_table) -> dict[str, dict]:
    aliases = {"ml": "ml-platform", "team": "Platform Team", "typus": "PLATYPUS_ops",
               "templates": "templates", "data": "Data Science", "none": None,
               "org": "platform (org)"}
    made = {}
    for name, alias in aliases.items():
        fields = {"team_alias": alias} if alias else {}
        if name == "org":
            fields["organization_id"] = "org-1"
        made[name] = api.new_team(**fields)
    return made


# --- word prefixes -------------------------------------------------------------------------

def test_a_word_prefix_finds_aliases_across_case_and_punctuation(api, teams):
    # When an admin searches "plat"
    page = lists.page(api, team_alias="plat", page_size=100)
    # Then every alias with a word starting so is found, whatever its case or punctuation,
    # and an alias that only holds the text inside a word ("templates") is not
    expected = [teams[n] for n in ("ml", "team", "typus", "org")]
    assert lists.ids(page["teams"]) == _sorted(expected)
    assert (page["total"], page["next_cursor"]) == (4, None)
    # And the search is case-insensitive on the query too
    found = lists.page(api, team_alias="PlAt", page_size=100)["teams"]
    assert lists.ids(found) == _sorted(expected)


def test_every_word_of_the_query_must_start_a_word_of_the_alias(api, teams):
    assert lists.ids(lists.page(api, team_alias="ml plat")["teams"]) == [teams["ml"]["team_id"]]
    # In any order, with any punctuation between them
    found = lists.page(api, team_alias="team, PLAT")["teams"]
    assert lists.ids(found) == [teams["team"]["team_id"]]
    assert lists.ids(lists.page(api, team_alias="ml-platform")["teams"]) == [teams["ml"]["team_id"]]
    # A word no alias has a word for falls back to the text (and finds nothing here)
    page = lists.page(api, team_alias="ml science")
    assert (page["teams"], page["total"], page["next_cursor"]) == ([], 0, None)


def test_the_organization_filter_narrows_a_search(api, teams):
    page = lists.page(api, team_alias="plat", organization_id="org-1")
    assert (lists.ids(page["teams"]), page["total"]) == ([teams["org"]["team_id"]], 1)
    page = lists.page(api, team_alias="plat", organization_id="default_organization")
    assert page["total"] == 3


@pytest.mark.parametrize("sort_by", ["created_at", "team_alias", "spend"])
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_search_pages_by_cursor_in_every_order_with_the_exact_total(api, fresh_table, sort_by,
                                                                      sort_order):
    # Given 11 teams with "plat" words (ties in alias) and 4 without, some with spend
    made = [api.new_team(team_alias=alias) for alias in (
        "plat one", "Platform", "zeta platform", "plat one", "other", "PLAT-two", "x",
        "a platter", "platform", "y", "ml.plat", "z", "plat_three", "Platypus", "platinum")]
    for n, team in enumerate(made[:6]):
        key = api.new_key(team_id=team["team_id"])
        api.ok(api.post("/spend/track", {"token": key["token"], "spend": 1.0 + n % 3}))
    teams = [api.ok(api.get("/team/info", query={"team_id": t["team_id"]}))["team_info"]
             for t in made]
    matching = [t for t in teams if any(w.startswith("plat") for w in alias_words.words(
        t["team_alias"]))]
    # When an admin walks the search's pages by cursor
    pages = lists.walk(api, team_alias="plat", page_size=3, sort_by=sort_by, sort_order=sort_order)
    # Then each match appears once, in the order asked, with the exact total on every page
    if sort_by != "spend":  # the spend order's place follows the stream: compare as a set
        assert _walked(pages) == _sorted(matching, sort_by, sort_order == "desc")
    assert sorted(_walked(pages)) == sorted(lists.ids(matching))
    assert {(p["total"], p["total_pages"]) for p in pages} == {(11, 4)}
    # And pages by number are the same pages
    by_number = [lists.page(api, team_alias="plat", page_size=3, sort_by=sort_by,
                       sort_order=sort_order, page=n)["teams"] for n in (1, 2, 3, 4)]
    assert [lists.ids(p) for p in by_number] == [lists.ids(p["teams"]) for p in pages]


def test_filter_ui_searches_the_same_index_newest_first(api, teams):
    found = lists.page(api, path="/team/filter/ui", team_alias="plat")
    expected = [teams[n] for n in ("ml", "team", "typus", "org")]
    assert lists.ids(found) == _sorted(expected, descending=True)
    second = lists.page(api, path="/team/filter/ui", team_alias="plat", page=2, page_size=3)
    assert lists.ids(second) == _sorted(expected, descending=True)[3:]


# --- the substring fallback ----------------------------------------------------------------

def test_text_inside_words_is_found_by_the_fallback(api, teams):
    # "latfor" starts no word: the aliases holding it are searched as text
    page = lists.page(api, team_alias="latfor", page_size=100)
    expected = [teams[n] for n in ("ml", "team", "org")]
    assert (lists.ids(page["teams"]), page["total"], page["next_cursor"]) == (
        _sorted(expected), 3, None)
    assert lists.ids(lists.page(api, path="/team/filter/ui", team_alias="LATFOR")) == _sorted(
        expected, descending=True)


def test_the_fallback_reads_a_bounded_number_of_teams_a_request(api, fresh_table, monkeypatch):
    # Given 11 teams, the first and the last of which hold "latfor"
    made = [api.new_team(team_alias="Platform A")] + [
        api.new_team(team_alias=f"filler {n}") for n in range(9)] + [
        api.new_team(team_alias="platform B")]
    # And a scan bound of 4 teams a request
    monkeypatch.setattr(team_orders, "SCAN_ITEMS", 4)
    # When an admin walks the search by cursor
    pages = lists.walk(api, team_alias="latfor", page_size=10)
    # Then each page read at most 4 teams and says where to go on, even a page without a match
    assert [lists.ids(p["teams"]) for p in pages] == [
        [made[0]["team_id"]], [], [made[-1]["team_id"]]]
    # And the total counts the matches so far, +1 while more may come; exact on the last page
    assert [p["total"] for p in pages] == [2, 2, 2]


def test_a_fallback_cursor_refuses_a_tampered_count(api, teams, monkeypatch):
    from teamledger import cursors

    monkeypatch.setattr(team_orders, "SCAN_ITEMS", 2)
    cursor = lists.page(api, team_alias="latfor", page_size=1)["next_cursor"]
    values = cursors.decode(cursor)
    assert values is not None
    for found in (-1, "3", 10**12, None):
        tampered = cursors.encode(values[:-1] + [found])
        reply = api.get("/v2/team/list", query={"team_alias": "latfor", "cursor": tampered})
        assert reply.status == 400
        assert "cursor" in reply.body["detail"]["error"]


# --- the index follows every change --------------------------------------------------------

def test_an_alias_change_moves_the_team_to_its_new_words(api, teams):
    team_id = teams["ml"]["team_id"]
    # When its alias changes (update, then PATCH, then removed)
    api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": "ML Infra"}))
    # Then the old words no longer find it and the new ones do
    assert team_id not in lists.ids(lists.page(api, team_alias="plat", page_size=100)["teams"])
    assert lists.ids(lists.page(api, team_alias="infra")["teams"]) == [team_id]
    assert {i["SK"].split("#")[0] for i in _word_items(team_id)} == {"ml", "infra"}
    api.ok(api.call("PATCH", "/team/{team_id}", path_params={"team_id": team_id},
                    body={"team_alias": "Search"}))
    assert lists.page(api, team_alias="infra")["total"] == 0
    assert lists.ids(lists.page(api, team_alias="sea")["teams"]) == [team_id]
    api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": None}))
    assert _word_items(team_id) == []
    # And an organization change is what the index filters on at once
    other = teams["team"]["team_id"]
    api.ok(api.post("/team/update", {"team_id": other, "organization_id": "org-2"}))
    found = lists.page(api, team_alias="plat", organization_id="org-2")["teams"]
    assert lists.ids(found) == [other]


def test_a_change_that_leaves_the_alias_writes_no_word(api, teams):
    team_id = teams["team"]["team_id"]
    before = _word_items(team_id)
    api.ok(api.post("/team/block", {"team_id": team_id}))
    api.ok(api.post("/team/model/add", {"team_id": team_id, "models": ["gpt-4o"]}))
    assert _word_items(team_id) == before


def test_a_deleted_team_leaves_the_index(api, teams):
    gone = [teams["ml"]["team_id"], teams["team"]["team_id"]]
    api.ok(api.post("/team/delete", {"team_ids": gone}))
    page = lists.page(api, team_alias="plat", page_size=100)
    assert (sorted(lists.ids(page["teams"])), page["total"]) == (
        sorted([teams["typus"]["team_id"], teams["org"]["team_id"]]), 2)
    assert [i for t in gone for i in _word_items(t)] == []


def test_a_refused_team_new_leaves_no_word(api, teams):
    # Given a team id that exists
    reply = api.post("/team/new", {"team_id": teams["data"]["team_id"],
                                   "team_alias": "Ghostly Words"})
    # When its creation is refused, nothing of the new alias is indexed
    assert reply.status == 400
    assert lists.page(api, team_alias="ghostly")["total"] == 0
    assert [i for i in _word_items() if i["SK"].startswith("ghostly")] == []


def test_a_team_key_and_a_member_search_only_their_own_teams(api, teams):
    user = api.new_user()
    for name in ("ml", "data"):
        api.ok(api.post("/team/member_add", {"team_id": teams[name]["team_id"],
                                             "member": {"user_id": user["user_id"]}}))
    page = lists.page(api, user["key"], team_alias="plat")
    assert (lists.ids(page["teams"]), page["total"]) == ([teams["ml"]["team_id"]], 1)
    # The fallback applies to their own teams too
    page = lists.page(api, user["key"], team_alias="cienc")
    assert (lists.ids(page["teams"]), page["total"]) == ([teams["data"]["team_id"]], 1)
    key = api.new_key(team_id=teams["team"]["team_id"])["key"]
    assert lists.ids(lists.page(api, key, team_alias="team")["teams"]) == [teams["team"]["team_id"]]
    assert api.get("/team/filter/ui", key=user["key"], query={"team_alias": "plat"}).status \
        == 403


# --- hostile aliases -----------------------------------------------------------------------

def test_an_alias_of_many_words_is_indexed_by_its_first_15(api, fresh_table):
    # Given a 1,024-byte alias of 256 words and the most members a team/new takes, with emails
    alias = " ".join(f"w{n:02x}" for n in range(256))[:1024]
    members = [{"user_id": f"m{n}", "user_email": f"m{n}@example.com"} for n in range(MEMBERS)]
    team = api.new_team(team_alias=alias, members_with_roles=members)
    # Then the team has 15 index entries, and a word past them is found by the fallback
    assert len(_word_items(team["team_id"])) == alias_words.WORDS_PER_TEAM
    assert lists.ids(lists.page(api, team_alias="w0e")["teams"]) == [team["team_id"]]
    assert lists.ids(lists.page(api, team_alias="w40")["teams"]) == [team["team_id"]]
    # And one member more than that is refused as the request's shape
    reply = api.post("/team/new", {"members_with_roles": members + [{"user_id": "one-more"}]})
    assert reply.status == 422


def test_a_long_word_is_found_by_a_prefix_longer_than_its_key(api, fresh_table):
    word = "é" * 300
    team = api.new_team(team_alias=f"x {word}")
    assert lists.ids(lists.page(api, team_alias=word[:200])["teams"]) == [team["team_id"]]
    assert lists.page(api, team_alias=word[:200] + "z")["total"] == 0


def test_deleting_many_teams_of_many_words_splits_the_marking(api, fresh_table):
    alias = " ".join(f"word{n}" for n in range(20))
    made = [api.new_team(team_alias=alias)["team_id"] for _ in range(8)]
    api.ok(api.post("/team/delete", {"team_ids": made}))
    assert lists.page(api, team_alias="word1")["total"] == 0
    assert _word_items() == []
    records = api.ok(api.get("/audit", query={"action": "deleted", "limit": "100",
                                              "table_name": "LiteLLM_TeamTable"}))["data"]
    assert sorted(r["object_id"] for r in records) == sorted(made)
