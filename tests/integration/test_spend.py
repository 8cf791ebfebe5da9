"""POST /spend/track: one transaction of ADDs to the key, its user, its team and the
membership; who is over budget; every kind of bad amount is a 4xx that writes nothing."""

import pytest

from tests.support.client import MASTER_KEY
from tests.support.streams import SpendOrderFeed


@pytest.fixture
def owned_key(api):
    """A key of a user who is a member of a team, with budgets on all four."""
    user = api.new_user(max_budget=1.0)
    team = api.new_team(max_budget=0.5, members_with_roles=[
        {"user_id": user["user_id"], "role": "user"}])
    api.ok(api.post("/team/member_update", {"team_id": team["team_id"],
                                            "user_id": user["user_id"],
                                            "max_budget_in_team": 0.3}))
    key = api.new_key(user_id=user["user_id"], team_id=team["team_id"], max_budget=2.0)
    return {"user": user, "team": team, "key": key}


def _track(api, body, key=MASTER_KEY):
    return api.post("/spend/track", body, key=key)


def test_spend_goes_to_key_user_team_and_membership(api, owned_key):
    reply = api.ok(_track(api, {"token": owned_key["key"]["token"], "spend": 0.2}))
    assert reply == {
        "key": {"spend": 0.2, "max_budget": 2.0, "budget_exceeded": False},
        "user": {"spend": 0.2, "max_budget": 1.0, "budget_exceeded": False},
        "team": {"spend": 0.2, "max_budget": 0.5, "budget_exceeded": False},
        "team_membership": {"spend": 0.2, "max_budget": 0.3, "budget_exceeded": False}}
    # A raw key is accepted too; exceeded means spend >= max_budget
    reply = api.ok(_track(api, {"key": owned_key["key"]["key"], "spend": 0.1}))
    assert reply["team_membership"] == {"spend": pytest.approx(0.3), "max_budget": 0.3,
                                        "budget_exceeded": True}
    assert reply["team"]["budget_exceeded"] is False
    # And what the other routes show agrees
    info = api.ok(api.get("/team/info", query={"team_id": owned_key["team"]["team_id"]}))
    assert info["team_info"]["spend"] == pytest.approx(0.3)
    assert api.ok(api.get("/key/info", query={"key": owned_key["key"]["token"]}))[
        "info"]["spend"] == pytest.approx(0.3)


def test_a_report_with_a_request_id_counts_once(api, owned_key):
    # Given a report of 0.2 with a request id, whose answer the gateway did not get
    token = owned_key["key"]["token"]
    first = api.ok(_track(api, {"token": token, "spend": 0.2, "request_id": "call-1"}))
    # When it sends the report again with that id, then another with a new id
    again = api.ok(_track(api, {"token": token, "spend": 0.2, "request_id": "call-1"}))
    later = api.ok(_track(api, {"token": token, "spend": 0.2, "request_id": "call-2"}))
    # Then the retry answered the same totals and counted nothing; the new one counted
    assert again == first and first["team"]["spend"] == 0.2
    assert later["team"]["spend"] == pytest.approx(0.4)
    # And another key's report with the same id is a report of its own
    other = api.new_key(user_id=owned_key["user"]["user_id"], team_id=owned_key["team"]["team_id"])
    both = api.ok(_track(api, {"token": other["token"], "spend": 0.2, "request_id": "call-1"}))
    assert both["team"]["spend"] == pytest.approx(0.6)


def test_decimal_amounts_add_exactly(api):
    user = api.new_user()
    key = api.new_key(user_id=user["user_id"])
    for _ in range(10):
        reply = api.ok(_track(api, {"token": key["token"], "spend": 0.1}))
    assert reply["key"]["spend"] == 1.0 and reply["user"]["spend"] == 1.0  # not 0.9999999999999999
    assert (reply["team"], reply["team_membership"]) == (None, None)


def test_amounts_count_in_units_of_1e_10_usd(api):
    user = api.new_user()
    key = api.new_key(user_id=user["user_id"])
    api.ok(_track(api, {"token": key["token"], "spend": 1e14}))
    reply = api.ok(_track(api, {"token": key["token"], "spend": 1.23456789012345e-7}))
    assert reply["key"]["spend"] == pytest.approx(1e14 + 1.234567890e-7, rel=1e-15)
    api.ok(_track(api, {"token": key["token"], "spend": 1e-10}))
    # Stored exactly, as an integer of units on the key's counter (no float, no exponent)
    from teamledger.store import keys as table_keys
    from teamledger.store.client import client, table_name
    from teamledger.store.marshal import to_item
    from teamledger.store.refs import KeyRef

    stored = client().get_item(TableName=table_name(),
                               Key=to_item(table_keys.counter(KeyRef(key["token"]))))["Item"]
    assert stored["spend"]["N"] == "1000000000000000000001236"


def test_a_key_without_owner_and_a_team_key(api):
    loose = api.new_key()
    assert api.ok(_track(api, {"token": loose["token"], "spend": 1}))["user"] is None
    team = api.new_team()
    team_key = api.new_key(team_id=team["team_id"])
    reply = api.ok(_track(api, {"token": team_key["token"], "spend": 2}))
    assert reply["team"]["spend"] == 2.0 and reply["team_membership"] is None


def test_a_removed_member_s_key_is_gone(api, owned_key):
    # Removing a member deletes their keys of the team (issue 13: the key kept charging it)
    team_id = owned_key["team"]["team_id"]
    api.ok(api.post("/team/member_delete", {"team_id": team_id,
                                            "user_id": owned_key["user"]["user_id"]}))
    assert _track(api, {"token": owned_key["key"]["token"], "spend": 0.5}).status == 404
    info = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert info["team_info"]["spend"] == 0.0


def test_a_deleted_team_s_key_is_gone(api, owned_key):
    api.ok(api.post("/team/delete", {"team_ids": [owned_key["team"]["team_id"]]}))
    assert _track(api, {"token": owned_key["key"]["token"], "spend": 0.5}).status == 404


def test_spend_order_follows_tracked_spend(api, fresh_table):
    feed = SpendOrderFeed(fresh_table)
    first, second = api.new_team(), api.new_team()
    for team, amount in ((first, 3.0), (second, 1.5)):
        key = api.new_key(team_id=team["team_id"])
        api.ok(_track(api, {"token": key["token"], "spend": amount}))
    feed.deliver()
    page = api.ok(api.get("/v2/team/list", query={"sort_by": "spend", "sort_order": "desc",
                                                  "page_size": "100"}))
    ids = [t["team_id"] for t in page["teams"]]
    assert ids.index(first["team_id"]) < ids.index(second["team_id"])


@pytest.mark.parametrize(("body", "status"), [
    ({"spend": 1}, 400),  # no key
    ({"token": "0" * 64, "spend": 1}, 404),  # unknown token
    ({"key": "sk-unknown", "spend": 1}, 404),
    ({"key": "not-a-key", "spend": 1}, 404),
    ({"token": "<token>", "spend": 0}, 400),
    ({"token": "<token>", "spend": -0.01}, 400),
    ({"token": "<token>", "spend": 1e16}, 400),
    ({"token": "<token>", "spend": 1e-150}, 400),  # below 1e-10 USD
    ({"token": "<token>", "spend": 1e-11}, 400),
    ({"token": "<token>", "spend": "a lot"}, 422),
    ({"token": "<token>"}, 422),
    ({"token": "<token>", "spend": None}, 422),
    ({"token": 5, "spend": 1}, 422),
])
def test_bad_reports_are_4xx_and_write_nothing(api, owned_key, body, status):
    # Given a key with nothing spent; when a bad report is sent
    token = owned_key["key"]["token"]
    body = {k: (token if v == "<token>" else v) for k, v in body.items()}
    reply = _track(api, body)
    # Then it is that status with its error shape, and nothing was added
    assert reply.status == status, reply
    assert_error_shape(reply)
    assert api.ok(api.get("/key/info", query={"key": token}))["info"]["spend"] == 0


def assert_error_shape(reply) -> None:
    """422: `{"detail": [{"loc", "msg", "type"}, ...]}`; any other error:
    `{"detail": {"error": "<message>"}}`."""
    assert set(reply.body) == {"detail"}, reply
    detail = reply.body["detail"]
    if reply.status == 422:
        assert detail and all(set(d) == {"loc", "msg", "type"} for d in detail), reply
    else:
        assert set(detail) == {"error"} and detail["error"], reply


@pytest.mark.parametrize("raw", ['{"token": "<t>", "spend": NaN}',
                                 '{"token": "<t>", "spend": Infinity}',
                                 '{"token": "<t>", "spend": -Infinity}'])
def test_non_finite_amounts_are_400(api, owned_key, raw):
    # Given a report whose amount is a JSON literal NaN or Infinity: the body parses and the
    # amount is a number, so the request has the right shape (no 422)
    token = owned_key["key"]["token"]
    # When it is sent
    reply = api.post("/spend/track", raw_body=raw.replace("<t>", token))
    # Then the amount rule refuses it (a business rule, checked after authorization: 400)
    assert reply.status == 400, reply
    assert_error_shape(reply)
    assert "finite" in reply.body["detail"]["error"]
    # And nothing was added
    assert api.ok(api.get("/key/info", query={"key": token}))["info"]["spend"] == 0


def test_only_admins_track_spend(api, owned_key):
    reply = _track(api, {"token": owned_key["key"]["token"], "spend": 1},
                   key=owned_key["user"]["key"])
    assert reply.status == 403
