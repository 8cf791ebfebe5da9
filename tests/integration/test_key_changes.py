"""POST /key/update, POST /key/regenerate and /key/{key}/regenerate, through their handlers.

A key keeps one stable id (its first token) for its spend, its reservations and its audit
records, whatever its token becomes; a regenerated key's old token stops at once, or when its
grace period ends."""

from datetime import timedelta

import pytest
from teamledger import timestamps

from tests.support.client import MASTER_KEY

NAMED = "/key/{key}/regenerate"


def records(api, object_id):
    """The object's audit records, oldest first."""
    reply = api.ok(api.get("/audit", query={"object_id": object_id}))
    return list(reversed(reply["data"]))


def key_info(api, token, key=MASTER_KEY):
    return api.get("/key/info", query={"key": token}, key=key)


@pytest.fixture
def later():
    """Moves the service's clock forward by a timedelta, for the rest of the test."""
    def move(by: timedelta) -> None:
        moment = timestamps.utcnow() + by
        timestamps.use_clock(lambda: moment)

    yield move
    timestamps.use_clock(None)


@pytest.fixture
def team_world(api):
    """A team with its admin and a plain member (users with keys), and a key of the team
    owned by the member."""
    admin, member = api.new_user(), api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": admin["user_id"], "role": "admin"},
                                            {"user_id": member["user_id"], "role": "user"}])
    key = api.new_key(user_id=member["user_id"], team_id=team["team_id"], max_budget=10.0)
    return {"admin": admin, "member": member, "team_id": team["team_id"], "key": key}


# --- /key/update ------------------------------------------------------------------------------

def test_update_changes_only_the_fields_sent_and_records_one_update(api):
    # Given a key with an alias, models and metadata
    key = api.new_key(key_alias="before", models=["gpt-4o"], metadata={"a": 1})

    # When its alias and metadata are updated
    reply = api.post("/key/update", {"key": key["token"], "key_alias": "after",
                                     "metadata": {"b": 2}})

    # Then the answer is the Key with those changed (metadata replaced), the rest as it was
    body = api.ok(reply)
    assert (body["token"], body["token_id"]) == (key["token"], key["token"])
    assert body["key_alias"] == "after" and body["metadata"] == {"b": 2}
    assert body["models"] == ["gpt-4o"] and "key" not in body
    assert api.ok(key_info(api, key["token"]))["info"]["key_alias"] == "after"
    # And one `updated` record of LiteLLM_VerificationToken holds exactly what changed
    created, updated = records(api, key["token"])
    assert created["action"] == "created"
    assert updated["action"] == "updated"
    assert updated["table_name"] == "LiteLLM_VerificationToken"
    assert updated["before_value"] == {"key_alias": "before", "metadata": {"a": 1}}
    assert updated["updated_values"] == {"key_alias": "after", "metadata": {"b": 2}}


def test_update_names_the_key_by_its_raw_key_too(api):
    key = api.new_key()
    body = api.ok(api.post("/key/update", {"key": key["key"], "models": ["m1"]}))
    assert body["token"] == key["token"] and body["models"] == ["m1"]


def test_update_with_nothing_changed_writes_no_record(api):
    key = api.new_key(key_alias="same")
    api.ok(api.post("/key/update", {"key": key["token"], "key_alias": "same",
                                    "max_budget": None}))
    assert [r["action"] for r in records(api, key["token"])] == ["created"]


def test_update_sets_limits_expiry_and_block(api):
    # Given a key that works
    key = api.new_key()

    # When an admin sets its limits, an expiry and blocks it
    body = api.ok(api.post("/key/update", {"key": key["token"], "max_budget": 5.0,
                                           "tpm_limit": 100, "rpm_limit": 10,
                                           "duration": "1h", "blocked": True}))

    # Then the Key says so, and the key is refused at once
    assert (body["max_budget"], body["tpm_limit"], body["rpm_limit"]) == (5.0, 100, 10)
    assert body["blocked"] is True and body["expires"] > body["updated_at"]
    assert api.get("/key/info", key=key["key"]).status == 401


def test_a_new_budget_duration_starts_a_period_on_the_grid_with_spend_zero(api):
    # Given a key that spent 2 USD in a daily period
    key = api.new_key(max_budget=10.0, budget_duration="1d")
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 2.0}))
    old_reset = api.ok(key_info(api, key["token"]))["info"]["budget_reset_at"]

    # When its budget_duration becomes weekly
    body = api.ok(api.post("/key/update", {"key": key["token"], "budget_duration": "1w"}))

    # Then a new period starts now: spend 0, the reset a week away
    assert body["budget_duration"] == "1w" and body["spend"] == 0.0
    assert body["budget_reset_at"] > old_reset
    assert api.ok(key_info(api, key["token"]))["info"]["spend"] == 0.0
    update = records(api, key["token"])[-1]
    assert update["before_value"]["spend"] == 2.0 and update["updated_values"]["spend"] == 0.0


def test_a_new_max_budget_binds_the_next_reservation(api):
    key = api.new_key(max_budget=10.0)
    api.ok(api.post("/key/update", {"key": key["token"], "max_budget": 1.0}))
    reply = api.post("/spend/reserve", {"token": key["token"], "amount": 2.0})
    assert reply.status == 429 and reply.body["detail"]["scope"] == "key"


def test_moving_a_key_to_another_team(api, team_world):
    # Given a key of one team, and another team
    other = api.new_team()["team_id"]
    token = team_world["key"]["token"]

    # When an admin moves it
    body = api.ok(api.post("/key/update", {"key": token, "team_id": other}))

    # Then it is the other team's key: in its team/info, not in the first team's
    assert body["team_id"] == other
    assert token in [k["token"] for k in api.ok(api.get(
        "/team/info", query={"team_id": other}))["keys"]]
    assert token not in [k["token"] for k in api.ok(api.get(
        "/team/info", query={"team_id": team_world["team_id"]}))["keys"]]


@pytest.mark.parametrize(("body", "status"), [
    ({"team_id": "no-such-team"}, 404),
    ({"budget_duration": "30days"}, 400),
    ({"duration": "0d"}, 400),
    ({"max_budget": -1}, 400),
    ({"tpm_limit": 1.5}, 400),
    ({"metadata": {"x": "y" * 70_000}}, 400),
    ({"metadata": {"": 1}}, 422),
    ({"models": "gpt-4o"}, 422),
    ({"key_alias": "a" * 1025}, 422),
])
def test_bad_input_is_a_clear_4xx_and_changes_nothing(api, body, status):
    key = api.new_key(key_alias="kept")
    reply = api.post("/key/update", {"key": key["token"]} | body)
    assert reply.status == status, reply
    assert reply.body["detail"]
    assert api.ok(key_info(api, key["token"]))["info"]["key_alias"] == "kept"
    assert [r["action"] for r in records(api, key["token"])] == ["created"]


def test_update_without_a_key_or_of_an_unknown_key(api):
    assert api.post("/key/update", {"key_alias": "x"}).status == 422
    assert api.post("/key/update", {"key": "0" * 64, "key_alias": "x"}).status == 404
    assert api.post("/key/update", {"key": "not-a-key"}).status == 404


# --- who may -------------------------------------------------------------------------------

def test_an_owner_updates_their_own_key_and_its_budget_when_it_has_no_team(api):
    user = api.new_user()
    own = api.new_key(user_id=user["user_id"])
    body = api.ok(api.post("/key/update", {"key": own["token"], "key_alias": "mine",
                                           "max_budget": 3.0}, key=user["key"]))
    assert (body["key_alias"], body["max_budget"]) == ("mine", 3.0)


def test_a_stranger_may_not_update_a_key(api):
    stranger, key = api.new_user(), api.new_key()
    reply = api.post("/key/update", {"key": key["token"], "key_alias": "x"},
                     key=stranger["key"])
    assert reply.status == 403
    # an unknown key is the same 403 for them (no probing)
    reply = api.post("/key/update", {"key": "0" * 64, "key_alias": "x"}, key=stranger["key"])
    assert reply.status == 403


def test_team_keys_budget_is_its_team_admins_not_its_owners(api, team_world):
    token = team_world["key"]["token"]
    # The member owns the key: its alias is theirs to change, its budget is not
    member_key = team_world["member"]["key"]
    assert api.post("/key/update", {"key": token, "key_alias": "m"}, key=member_key).status == 200
    reply = api.post("/key/update", {"key": token, "max_budget": 1000.0}, key=member_key)
    assert reply.status == 403
    # Sending the budget it has is no change, and passes
    assert api.post("/key/update", {"key": token, "max_budget": 10.0},
                    key=member_key).status == 200
    # The team admin sets it
    body = api.ok(api.post("/key/update", {"key": token, "max_budget": 1000.0},
                           key=team_world["admin"]["key"]))
    assert body["max_budget"] == 1000.0


def test_plain_members_may_not_update_the_teams_other_keys_by_default(api, team_world):
    # Given a team key that is not the member's
    other = api.new_key(team_id=team_world["team_id"])
    reply = api.post("/key/update", {"key": other["token"], "key_alias": "x"},
                     key=team_world["member"]["key"])
    assert reply.status == 403
    # But its team admin may
    assert api.post("/key/update", {"key": other["token"], "key_alias": "x"},
                    key=team_world["admin"]["key"]).status == 200


def test_a_move_needs_the_callers_rights_on_both_teams(api, team_world):
    admin = team_world["admin"]
    token = api.new_key(team_id=team_world["team_id"])["token"]
    # A team the team admin is not in: 403, and the key stays
    elsewhere = api.new_team()["team_id"]
    assert api.post("/key/update", {"key": token, "team_id": elsewhere},
                    key=admin["key"]).status == 403
    # A team they administer too: moved
    theirs = api.new_team(members_with_roles=[{"user_id": admin["user_id"],
                                               "role": "admin"}])["team_id"]
    body = api.ok(api.post("/key/update", {"key": token, "team_id": theirs}, key=admin["key"]))
    assert body["team_id"] == theirs


# --- /key/regenerate -------------------------------------------------------------------------

def test_regenerate_gives_a_new_key_for_the_same_key_and_the_old_one_stops_at_once(api):
    # Given a key that works
    key = api.new_key(key_alias="k", max_budget=5.0)
    assert api.get("/key/info", key=key["key"]).status == 200

    # When it is regenerated (without a grace period)
    body = api.ok(api.post("/key/regenerate", {"key": key["token"]}))

    # Then the answer has the new raw key, once, and a new token; the rest is the key's
    assert body["key"].startswith("sk-") and body["key"] != key["key"]
    assert body["token"] != key["token"] and body["token_id"] == body["token"]
    assert body["key_name"] == f"sk-...{body['key'][-4:]}"
    assert (body["key_alias"], body["max_budget"]) == ("k", 5.0)
    # And the new key works, the old one is refused at once
    assert api.get("/key/info", key=body["key"]).status == 200
    assert api.get("/key/info", key=key["key"]).status == 401
    # The key is found by its new token only
    assert key_info(api, key["token"]).status == 404
    assert api.ok(key_info(api, body["token"]))["info"]["key_alias"] == "k"


def test_regenerate_with_the_key_in_the_path_and_changed_fields(api):
    key = api.new_key()
    reply = api.call("POST", NAMED, path_params={"key": key["key"]},
                     body={"key_alias": "renamed", "models": ["gpt-4o"]})
    body = api.ok(reply)
    assert body["key_alias"] == "renamed" and body["models"] == ["gpt-4o"]
    assert api.get("/key/info", key=body["key"]).status == 200
    # The path also takes the token, and a body is not needed
    again = api.ok(api.call("POST", NAMED, path_params={"key": body["token"]}))
    assert again["token"] not in (key["token"], body["token"])


def test_the_old_key_works_in_its_grace_period_and_is_refused_after_it(api, later):
    # Given a key regenerated with a grace period of an hour
    key = api.new_key(max_budget=5.0)
    new = api.ok(api.post("/key/regenerate", {"key": key["token"], "grace_period": "1h"}))

    # Then both keys work now
    assert api.get("/key/info", key=key["key"]).status == 200
    assert api.get("/key/info", key=new["key"]).status == 200
    reply = api.post("/spend/reserve", {"key": key["key"], "amount": 0.01})
    assert reply.status == 200, reply

    # And when the hour has passed, only the new one does
    later(timedelta(hours=1, seconds=1))
    assert api.get("/key/info", key=key["key"]).status == 401
    assert api.get("/key/info", key=new["key"]).status == 200


def test_regenerating_again_without_grace_ends_the_earlier_grace_period(api):
    key = api.new_key()
    second = api.ok(api.post("/key/regenerate", {"key": key["token"], "grace_period": "1d"}))
    third = api.ok(api.post("/key/regenerate", {"key": second["token"]}))
    assert api.get("/key/info", key=key["key"]).status == 401
    assert api.get("/key/info", key=second["key"]).status == 401
    assert api.get("/key/info", key=third["key"]).status == 200


def test_spend_continues_on_the_same_counter_after_regenerate(api):
    # Given a key that spent 1 USD
    key = api.new_key(max_budget=10.0)
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 1.0}))

    # When it is regenerated and spends 2 USD more under its new token
    new = api.ok(api.post("/key/regenerate", {"key": key["token"]}))
    assert new["spend"] == 1.0
    api.ok(api.post("/spend/track", {"token": new["token"], "spend": 2.0}))

    # Then its spend is both
    assert api.ok(key_info(api, new["token"]))["info"]["spend"] == 3.0
    # And its budget still counts the spend before (3 of 10 USD: 7.5 more is refused)
    reply = api.post("/spend/reserve", {"token": new["token"], "amount": 7.5})
    assert reply.status == 429 and reply.body["detail"]["scope"] == "key"


def test_a_reservation_made_before_regenerate_settles_after_it(api):
    # Given a reservation held by a key
    key = api.new_key(max_budget=10.0)
    held = api.ok(api.post("/spend/reserve", {"token": key["token"], "amount": 1.0}))

    # When the key is regenerated, and the call settles
    new = api.ok(api.post("/key/regenerate", {"key": key["token"]}))
    settled = api.ok(api.post("/spend/settle", {"reservation_id": held["reservation_id"],
                                                "spend": 0.5}))

    # Then the key's spend has it, and nothing stays reserved
    assert settled["scopes"]["key"]["spend"] == 0.5
    assert settled["scopes"]["key"]["reserved"] == 0.0
    assert api.ok(key_info(api, new["token"]))["info"]["spend"] == 0.5


def test_the_audit_of_a_key_under_its_first_token_shows_its_whole_story(api):
    # Given a key created, updated, regenerated and updated again
    key = api.new_key(key_alias="one")
    api.ok(api.post("/key/update", {"key": key["token"], "key_alias": "two"}))
    new = api.ok(api.post("/key/regenerate", {"key": key["token"]}))
    api.ok(api.post("/key/update", {"key": new["token"], "key_alias": "three"}))

    # Then /audit?object_id=<first token> has the four records, in order
    found = records(api, key["token"])
    assert [r["action"] for r in found] == ["created", "updated", "updated", "updated"]
    regenerated = found[2]
    assert regenerated["before_value"]["token"] == key["token"]
    assert regenerated["updated_values"]["token"] == new["token"]
    assert found[3]["updated_values"] == {"key_alias": "three"}
    # And the raw keys are in no record
    assert key["key"] not in str(found) and new["key"] not in str(found)


def test_the_budget_reset_of_a_regenerated_key_resets_its_one_counter(api, fresh_table):
    # Given a key with a daily budget that spent 2 USD, then was regenerated
    from teamledger.domain import budget_reset
    from teamledger.timestamps import from_iso

    key = api.new_key(max_budget=10.0, budget_duration="1d")
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 2.0}))
    new = api.ok(api.post("/key/regenerate", {"key": key["token"]}))

    # When the reset job runs after its period
    report = budget_reset.run(now=from_iso(new["budget_reset_at"]) + timedelta(hours=1))

    # Then the key (under its new token) has spend 0 and its next reset, recorded under its
    # first token
    assert (report.reset, report.skipped) == (1, 0)
    info = api.ok(key_info(api, new["token"]))["info"]
    assert info["spend"] == 0.0 and info["budget_reset_at"] > new["budget_reset_at"]
    reset = records(api, key["token"])[-1]
    assert reset["changed_by"] == budget_reset.JOB
    assert reset["before_value"]["spend"] == 2.0


def test_regenerate_by_its_owner_and_not_by_a_stranger(api):
    user, stranger = api.new_user(), api.new_user()
    own = api.new_key(user_id=user["user_id"])
    assert api.post("/key/regenerate", {"key": own["token"]}, key=stranger["key"]).status == 403
    body = api.ok(api.post("/key/regenerate", {"key": own["token"]}, key=user["key"]))
    assert api.get("/key/info", key=body["key"]).status == 200


@pytest.mark.parametrize(("body", "status"), [
    ({"grace_period": "1 hour"}, 400),
    ({"grace_period": "0h"}, 400),
    ({"max_budget": float("nan")}, 400),
    ({"budget_duration": "2x"}, 400),
])
def test_regenerate_bad_input_changes_nothing(api, body, status):
    key = api.new_key()
    reply = api.post("/key/regenerate", {"key": key["token"]} | body)
    assert reply.status == status, reply
    assert api.get("/key/info", key=key["key"]).status == 200
    assert [r["action"] for r in records(api, key["token"])] == ["created"]


def test_regenerate_needs_a_key(api):
    reply = api.post("/key/regenerate", {})
    assert reply.status == 400 and "key" in reply.body["detail"]["error"]


# --- no raw key in a log ------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:POWERTOOLS_DEV")
def test_a_raw_key_in_the_path_or_query_reaches_no_log_even_in_powertools_dev_mode(
        api, monkeypatch, capsys, caplog):
    # Given Powertools' dev mode, which makes its resolver print every event it gets
    import importlib

    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    modules = [importlib.reload(importlib.import_module(f"functions.{name}.app"))
               for name in ("key_regenerate", "key_info")]
    try:
        key = api.new_key()
        capsys.readouterr()
        # When the raw key is sent in a path and in a query
        new = api.ok(api.call("POST", NAMED, path_params={"key": key["key"]}))
        assert api.get("/key/info", query={"key": new["key"]}).status == 200
        # Then neither raw key was printed or logged
        out, err = capsys.readouterr()
        logged = out + err + caplog.text
        assert key["key"] not in logged and new["key"] not in logged
    finally:
        monkeypatch.delenv("POWERTOOLS_DEV")
        for module in modules:
            importlib.reload(module)
