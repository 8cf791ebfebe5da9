"""Keys as LiteLLM's client generates, reads, lists, updates, regenerates and deletes them."""

import time

from tests.compat.answers import status_of


def test_a_generated_key_has_token_id_and_updated_at_and_reads_by_raw_key_or_token(
        admin, new_team, uid):
    # Given a team
    team = new_team()

    # When the client generates a key for it
    key = admin.keys.generate(team_id=team["team_id"], key_alias=uid("ci"), models=["gpt-4o"])

    # Then the key answers LiteLLM 1.110's fields, and reads the same by raw key or by token
    assert key["key"].startswith("sk-") and key["token_id"] == key["token"]
    assert key["updated_at"] == key["created_at"]
    by_raw, by_token = admin.keys.info(key["key"]), admin.keys.info(key["token"])
    assert by_raw == by_token
    assert by_raw["key"] == key["token"]
    info = by_raw["info"]
    assert (info["token_id"], info["team_id"], info["key_alias"], info["models"]) == (
        key["token"], team["team_id"], key["key_alias"], ["gpt-4o"])
    assert "key" not in info  # the raw key is shown once, by /key/generate


def test_a_key_with_no_user_and_no_team_reads_itself_and_nothing_else(admin, client_as):
    # Given a key with neither a user nor a team, and another key
    lone, other = admin.keys.generate(), admin.keys.generate()
    as_lone = client_as(lone["key"])

    # When it reads itself, by raw key, by token, and with no query
    answers = [as_lone.keys.info(lone["key"]), as_lone.keys.info(lone["token"]),
               as_lone.http.request("GET", "/key/info")]

    # Then each answer is its own info; another key stays hidden
    assert [answer["key"] for answer in answers] == [lone["token"]] * 3
    assert status_of(lambda: as_lone.keys.info(other["token"])) == 403
    assert status_of(lambda: as_lone.keys.info("0" * 64)) == 403  # unknown: no probing


def test_a_deleted_key_is_gone_and_refused(admin, client_as, uid):
    # Given a key
    key = admin.keys.generate(key_alias=uid("old"))

    # When the client deletes it by token
    deleted = admin.keys.delete(keys=[key["token"]])

    # Then the answer names its token, it is not found, and it no longer authenticates
    assert deleted == {"deleted_keys": [key["token"]]}
    assert status_of(lambda: admin.keys.info(key["token"])) == 404
    assert status_of(lambda: client_as(key["key"]).keys.info(key["key"])) == 401


def test_a_key_for_an_unknown_user_makes_no_user_and_acts_only_as_a_key(
        admin, admin_users, client_as, users_as, uid):
    # Given a key generated for a user id nobody has
    ghost = uid("ghost")
    key = admin.keys.generate(user_id=ghost)

    # When the admin and the key itself look for that user
    admin_sees = status_of(lambda: admin_users.get_user(ghost))
    key_sees = status_of(lambda: users_as(key["key"]).get_user(ghost))

    # Then the key carries the id, no user was made, and the key may read only itself
    assert key["user_id"] == ghost
    assert admin_sees == 404
    assert key_sees == 403
    assert client_as(key["key"]).keys.info(key["key"])["info"]["user_id"] == ghost


def test_key_update_changes_the_fields_sent_and_moves_the_key_to_another_team(
        admin, new_team, uid):
    # Given a key of one team, and another team
    first, second = new_team(), new_team()
    key = admin.keys.generate(team_id=first["team_id"], key_alias=uid("before"))

    # When the client updates its alias, models and expiry, then moves it to the other team
    alias = uid("after")
    updated = admin.keys.update(key=key["token"], key_alias=alias, models=["gpt-4o-mini"],
                                duration="1h")
    moved = admin.keys.update(key=key["key"], team_id=second["team_id"])

    # Then each answer is the key as changed, and the key reads back so
    assert (updated["key_alias"], updated["models"]) == (alias, ["gpt-4o-mini"])
    assert updated["expires"] is not None and updated["token"] == key["token"]
    assert updated["updated_at"] >= key["updated_at"]
    assert (moved["team_id"], moved["key_alias"]) == (second["team_id"], alias)
    info = admin.keys.info(key["token"])["info"]
    assert (info["team_id"], info["key_alias"], info["models"]) == (
        second["team_id"], alias, ["gpt-4o-mini"])
    assert "key" not in updated and "key" not in moved


def test_key_update_of_an_unknown_key_is_refused_in_words(admin):
    # When the client updates a key that does not exist
    try:
        admin.keys.update(key="0" * 64, key_alias="nobody")
    except Exception as error:  # the client raises a bare Exception with the answer's text
        refusal = str(error)
    else:
        refusal = ""

    # Then it shows the service's message
    assert "not found" in refusal.lower()


def test_regenerate_gives_a_new_raw_key_and_token_and_the_old_key_stops(
        admin, client_as, uid):
    # Given a key
    key = admin.keys.generate(key_alias=uid("rotating"), models=["gpt-4o"])

    # When the client regenerates it by the path route, changing its alias
    alias = uid("rotated")
    new = admin.http.request("POST", f"/key/{key['token']}/regenerate", json={"key_alias": alias})

    # Then the answer has a new raw key and token, the old key is refused at once, the new works
    assert new["key"].startswith("sk-") and new["key"] != key["key"]
    assert new["token"] != key["token"] and new["token_id"] == new["token"]
    assert (new["key_alias"], new["models"]) == (alias, ["gpt-4o"])
    assert status_of(lambda: client_as(key["key"]).keys.info(key["key"])) == 401
    assert client_as(new["key"]).keys.info(new["key"])["info"]["key_alias"] == alias


def test_regenerate_with_a_grace_period_keeps_the_old_key_until_it_ends(
        admin, admin_users, users_as, uid):
    # Given a user's key
    user = admin_users.create_user({"user_id": uid("rotor")})
    old = users_as(user["key"])

    # When the client regenerates it with a grace period of three seconds
    new = admin.http.request("POST", "/key/regenerate",
                             json={"key": user["key"], "grace_period": "3s"})

    # Then both keys work, and the old one stops once the period is over
    def old_key_reads_its_user() -> int:
        return status_of(lambda: old.get_user(user["user_id"]))

    assert new["key"] != user["key"]
    assert old_key_reads_its_user() == 200
    assert users_as(new["key"]).get_user(user["user_id"])["user_id"] == user["user_id"]
    deadline = time.monotonic() + 10
    while old_key_reads_its_user() == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert old_key_reads_its_user() == 401
    assert users_as(new["key"]).get_user(user["user_id"])["user_id"] == user["user_id"]


def test_key_list_pages_filters_and_returns_tokens_or_whole_keys(admin, new_team, uid):
    # Given a team with three keys, one of them with its own alias
    team_id = new_team()["team_id"]
    alias = uid("findme")
    made = [admin.keys.generate(team_id=team_id, key_alias=name)["token"]
            for name in (uid("a"), uid("b"), alias)]

    # When the client lists the team's keys two at a time, and by alias
    first = admin.keys.list(team_id=team_id, page=1, size=2)
    second = admin.keys.list(team_id=team_id, page=2, size=2)
    by_alias = admin.keys.list(key_alias=alias, return_full_object=True)

    # Then the pages hold the three tokens once each, and the alias finds its whole key
    assert (first["total_count"], first["current_page"], first["total_pages"]) == (3, 1, 2)
    assert (second["current_page"], len(second["keys"])) == (2, 1)
    assert sorted(first["keys"] + second["keys"]) == sorted(made)
    assert [(key["token"], key["key_alias"]) for key in by_alias["keys"]] == [(made[2], alias)]


def test_a_user_lists_their_own_keys_only(admin, admin_users, client_as, uid):
    # Given two users with a key each (and one more for the first)
    alice = admin_users.create_user({"user_id": uid("alice")})
    bob = admin_users.create_user({"user_id": uid("bob")})
    second = client_as(alice["key"]).keys.generate(key_alias=uid("alice-2"))

    # When alice lists keys with the client
    listed = client_as(alice["key"]).keys.list(return_full_object=True)

    # Then she sees her two keys and none of bob's
    owners = {key["user_id"] for key in listed["keys"]}
    assert owners == {alice["user_id"]} and bob["user_id"] not in owners
    assert second["token"] in {key["token"] for key in listed["keys"]}
    assert listed["total_count"] == 2


def test_raw_keys_the_client_sends_in_paths_and_queries_never_reach_the_log(dev, admin):
    # Given a key
    key = admin.keys.generate()

    # When the client reads it by its raw key (a query) and regenerates it by it (a path)
    admin.keys.info(key["key"])
    new = admin.http.request("POST", f"/key/{key['key']}/regenerate", json={})
    admin.keys.info(new["key"])

    # Then the server's console shows neither raw key, old or new
    log = dev.log()
    assert "/key/info" in log
    assert key["key"] not in log and new["key"] not in log
