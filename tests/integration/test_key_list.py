"""GET /key/list (issue 14): pages of keys in token order, as tokens or as Key objects, with
`total_count` and `total_pages`. Admins and viewers see every key; others their own and their
teams' (as team admins, or as members the team lets list its keys)."""

import pytest
from teamledger.domain import key_lists


def _list(api, key=None, **query) -> dict:
    kwargs = {"key": key} if key else {}
    return api.ok(api.get("/key/list", query=query, **kwargs))


def _keys(api, n: int, **fields) -> list[str]:
    return sorted(api.new_key(**fields)["token"] for _ in range(n))


def test_a_users_keys_come_in_pages_in_token_order(api):
    # Given a user with three keys
    user = api.new_user()
    tokens = sorted([api.ok(api.get("/key/info", query={}, key=user["key"]))["key"]]
                    + _keys(api, 2, user_id=user["user_id"]))

    # When an admin lists them two at a time
    first = _list(api, user_id=user["user_id"], size=2)
    second = _list(api, user_id=user["user_id"], size=2, page=2)

    # Then the pages hold them in token order, and say how many there are
    assert first == {"keys": tokens[:2], "total_count": 3, "current_page": 1, "total_pages": 2}
    assert second == {"keys": tokens[2:], "total_count": 3, "current_page": 2, "total_pages": 2}
    assert _list(api, user_id=user["user_id"], size=2, page=3)["keys"] == []


def test_return_full_object_answers_key_objects_without_the_raw_key(api):
    # Given a team key with an alias, a budget and some spend
    team_id = api.new_team()["team_id"]
    made = api.new_key(team_id=team_id, key_alias="ci", max_budget=5.0)
    api.ok(api.post("/spend/track", {"token": made["token"], "spend": 0.5}))

    # When its team's keys are listed as objects
    (key,) = _list(api, team_id=team_id, return_full_object="true")["keys"]

    # Then the Key says what /key/info says (which adds `user_role` for a caller's own key
    # only: null here), and never the raw key
    info = api.ok(api.get("/key/info", query={"key": made["token"]}))["info"]
    assert info.pop("user_role") is None
    assert key == info
    assert (key["key_alias"], key["spend"], key["max_budget"]) == ("ci", 0.5, 5.0)
    assert "key" not in key


def test_key_alias_and_the_user_narrow_a_teams_keys(api):
    # Given a team with keys of two users, one of them aliased
    team_id = api.new_team()["team_id"]
    ann, bob = api.new_user(), api.new_user()
    aliased = api.new_key(team_id=team_id, user_id=ann["user_id"], key_alias="deploy")["token"]
    plain = api.new_key(team_id=team_id, user_id=ann["user_id"])["token"]
    bobs = api.new_key(team_id=team_id, user_id=bob["user_id"], key_alias="deploy")["token"]

    # When they are listed by alias, by user, and by both
    by_alias = _list(api, team_id=team_id, key_alias="deploy")
    by_user = _list(api, team_id=team_id, user_id=ann["user_id"])
    by_both = _list(api, team_id=team_id, user_id=ann["user_id"], key_alias="deploy")

    # Then each holds exactly the keys that match
    assert by_alias["keys"] == sorted([aliased, bobs]) and by_alias["total_count"] == 2
    assert by_user["keys"] == sorted([aliased, plain]) and by_user["total_count"] == 2
    assert by_both["keys"] == [aliased] and by_both["total_count"] == 1


def test_admins_and_viewers_list_every_key(api, fresh_table):
    # Given keys of a user, of a team, and of neither, in a table of their own
    user = api.new_user()
    team_id = api.new_team()["team_id"]
    tokens = sorted([api.ok(api.get("/key/info", query={}, key=user["key"]))["key"],
                     api.new_key(team_id=team_id)["token"], api.new_key()["token"]])
    viewer = api.new_user("proxy_admin_viewer")
    tokens = sorted(tokens + [api.ok(api.get("/key/info", query={}, key=viewer["key"]))["key"]])

    # When the master key and a viewer list all keys
    for key in (None, viewer["key"]):
        listed = _list(api, key=key, size=100)

        # Then they see every key
        assert listed["keys"] == tokens
        assert (listed["total_count"], listed["total_pages"]) == (4, 1)


def test_a_user_lists_their_own_keys_and_their_teams(api):
    # Given a user who is a plain member of one team and the admin of another, each with a
    # key of someone else, and a stranger's key
    user = api.new_user()
    own = api.ok(api.get("/key/info", query={}, key=user["key"]))["key"]
    as_member = api.new_team(members_with_roles=[{"user_id": user["user_id"]}])["team_id"]
    as_admin = api.new_team(members_with_roles=[
        {"user_id": user["user_id"], "role": "admin"}])["team_id"]
    members_teams = api.new_key(team_id=as_member)["token"]
    admins_teams = api.new_key(team_id=as_admin)["token"]
    stranger = api.new_user()

    # When the user lists keys
    listed = _list(api, key=user["key"], size=100)

    # Then they see theirs and their teams', never the stranger's
    assert listed["keys"] == sorted([own, members_teams, admins_teams])
    assert listed["total_count"] == 3
    other = _list(api, key=user["key"], user_id=stranger["user_id"])
    assert other == {"keys": [], "total_count": 0, "current_page": 1, "total_pages": 1}


def test_a_team_that_keeps_its_keys_from_members_is_left_out(api):
    # Given a user who is a plain member of a team that does not permit /key/list
    user = api.new_user()
    team_id = api.new_team(members_with_roles=[{"user_id": user["user_id"]}],
                           team_member_permissions=["/key/info"])["team_id"]
    api.new_key(team_id=team_id)
    own_team_key = api.new_key(team_id=team_id, user_id=user["user_id"])["token"]

    # When the user lists keys, or that team's
    everything = _list(api, key=user["key"], size=100)
    of_team = _list(api, key=user["key"], team_id=team_id)

    # Then they see their own keys (their key of the team included), not the team's others
    assert own_team_key in everything["keys"] and everything["total_count"] == 2
    assert of_team["keys"] == [own_team_key]


def test_total_count_is_a_lower_bound_past_what_it_counts(api, monkeypatch):
    # Given a user with five keys, and a count that looks one key past the page
    monkeypatch.setattr(key_lists, "COUNT_AHEAD", 1)
    user = api.new_user()
    tokens = sorted([api.ok(api.get("/key/info", query={}, key=user["key"]))["key"]]
                    + _keys(api, 4, user_id=user["user_id"]))

    # When pages of two are read
    first = _list(api, user_id=user["user_id"], size=2)
    third = _list(api, user_id=user["user_id"], size=2, page=3)

    # Then the first says there is more than it counted; the last counts exactly
    assert first["keys"] == tokens[:2]
    assert (first["total_count"], first["total_pages"]) == (4, 2)
    assert third == {"keys": tokens[4:], "total_count": 5, "current_page": 3, "total_pages": 3}


@pytest.mark.parametrize("query", [{"size": 0}, {"size": 101}, {"page": 0}, {"size": "x"},
                                   {"return_full_object": "maybe"}, {"user_id": " x"}])
def test_bad_paging_is_422(api, query):
    reply = api.get("/key/list", query=query)

    assert reply.status == 422, reply
    assert reply.body["detail"][0]["loc"][-1] == next(iter(query))
