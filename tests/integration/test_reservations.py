"""The gateway's per-call path: /spend/reserve, /spend/settle, /spend/release, and the leases
the schedule charges, against a moto server over HTTP."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from teamledger.domain import budget_reset
from teamledger.timestamps import from_iso, utcnow

from tests.support.client import MASTER_KEY


@pytest.fixture
def gateway(api) -> str:
    """The gateway's own key: no user, limited to the /spend/* routes."""
    return api.new_key(allowed_routes=["/spend/*"])["key"]


@pytest.fixture
def caller(api) -> dict:
    """bob, a member of a team with a budget of 5.00, and his key in that team."""
    bob = api.new_user()
    team = api.new_team(max_budget=5.0, members_with_roles=[{"user_id": bob["user_id"],
                                                             "role": "user"}])
    key = api.new_key(user_id=bob["user_id"], team_id=team["team_id"])
    return {"user": bob, "team": team, "key": key}


def _reserve(api, gateway, key, amount=0.1, **fields):
    return api.post("/spend/reserve", {"key": key["key"], "amount": amount} | fields, key=gateway)


def _scopes(api, gateway, key) -> dict:
    return api.ok(_reserve(api, gateway, key, amount=0))["scopes"]


def test_a_reservation_answers_everything_the_gateway_needs(api, gateway, caller):
    reply = api.ok(_reserve(api, gateway, caller["key"], amount=0.25, model="gpt-4o"))
    assert set(reply) >= {"reservation_id", "expires_at", "user_id", "team_id", "key_alias",
                          "models", "tpm_limit", "rpm_limit", "scopes"}
    assert (reply["user_id"], reply["team_id"]) == (caller["user"]["user_id"],
                                                    caller["team"]["team_id"])
    assert set(reply["scopes"]) == {"key", "user", "team", "team_membership"}
    team = reply["scopes"]["team"]
    assert team == {"spend": 0.0, "reserved": 0.25, "max_budget": 5.0, "remaining": 4.75}
    assert reply["scopes"]["key"]["max_budget"] is None
    lease = from_iso(reply["expires_at"]) - utcnow()
    assert timedelta(seconds=590) < lease <= timedelta(seconds=600)


def test_settle_moves_the_hold_to_spend_once(api, gateway, caller):
    rid = api.ok(_reserve(api, gateway, caller["key"], amount=0.5))["reservation_id"]
    first = api.ok(api.post("/spend/settle", {"reservation_id": rid, "spend": 0.123},
                            key=gateway))
    assert first["state"] == "settled"
    assert first["scopes"]["team"] == {"spend": 0.123, "reserved": 0.0, "max_budget": 5.0,
                                       "remaining": 4.877}
    # Settle twice counts once; release after settle changes nothing
    again = api.ok(api.post("/spend/settle", {"reservation_id": rid, "spend": 0.123},
                            key=gateway))
    assert again["scopes"] == first["scopes"]
    released = api.ok(api.post("/spend/release", {"reservation_id": rid}, key=gateway))
    assert released["scopes"] == first["scopes"] and released["state"] == "settled"
    # and the admin routes show the same spend
    info = api.ok(api.get("/team/info", query={"team_id": caller["team"]["team_id"]}))
    assert info["team_info"]["spend"] == 0.123
    bobs = [m for m in info["team_memberships"] if m["user_id"] == caller["user"]["user_id"]]
    assert bobs[0]["spend"] == 0.123
    key_info = api.ok(api.get("/key/info", query={"key": caller["key"]["key"]}))
    assert key_info["info"]["spend"] == 0.123


def test_release_frees_the_hold(api, gateway, caller):
    rid = api.ok(_reserve(api, gateway, caller["key"], amount=1.0))["reservation_id"]
    reply = api.ok(api.post("/spend/release", {"reservation_id": rid}, key=gateway))
    assert reply["state"] == "released"
    assert reply["scopes"]["team"]["reserved"] == 0.0 and reply["scopes"]["team"]["spend"] == 0
    assert api.ok(api.post("/spend/release", {"reservation_id": rid}, key=gateway))["state"] \
        == "released"
    settle = api.post("/spend/settle", {"reservation_id": rid, "spend": 1}, key=gateway)
    assert settle.status == 409, settle


def test_a_budget_admits_exactly_what_it_holds(api, gateway, caller):
    # Given a team budget of 5.00: fifty reservations of 0.10 fit, the 51st does not
    answers = [_reserve(api, gateway, caller["key"], amount=0.1) for _ in range(51)]
    assert [a.status for a in answers[:50]] == [200] * 50
    refused = answers[50]
    assert refused.status == 429, refused
    detail = refused.body["detail"]
    assert (detail["type"], detail["scope"], detail["remaining"]) == ("budget_exceeded",
                                                                      "team", 0.0)
    # Settling each below its reservation frees the difference
    for answer in answers[:50]:
        api.ok(api.post("/spend/settle", {"reservation_id": answer.body["reservation_id"],
                                          "spend": 0.07}, key=gateway))
    team = _scopes(api, gateway, caller["key"])["team"]
    assert team["spend"] == pytest.approx(3.5, abs=1e-12) and team["reserved"] == 0.0


def test_concurrent_reserves_never_pass_the_budget(api, gateway, caller):
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: _reserve(api, gateway, caller["key"], amount=0.1),
                                range(80)))
    assert sorted(a.status for a in answers) == [200] * 50 + [429] * 30
    assert _scopes(api, gateway, caller["key"])["team"]["reserved"] == 5.0


@pytest.mark.parametrize("scope", ["key", "team_membership", "user"])
def test_every_scope_s_budget_binds(api, gateway, scope):
    user = api.new_user(**({"max_budget": 1.0} if scope == "user" else {}))
    member = {"user_id": user["user_id"], "role": "user"}
    team = api.new_team(members_with_roles=[member])
    if scope == "team_membership":
        api.ok(api.post("/team/member_update", {"team_id": team["team_id"],
                                                "user_id": user["user_id"],
                                                "max_budget_in_team": 1.0}))
    key = api.new_key(user_id=user["user_id"], team_id=team["team_id"],
                      **({"max_budget": 1.0} if scope == "key" else {}))
    answers = [_reserve(api, gateway, key, amount=0.3) for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert answers[3].body["detail"]["scope"] == scope
    assert answers[3].body["detail"]["remaining"] == pytest.approx(0.1)


def test_a_retry_with_the_same_request_id_answers_the_same_reservation(api, gateway, caller):
    first = api.ok(_reserve(api, gateway, caller["key"], amount=0.4, request_id="call-7"))
    again = api.ok(_reserve(api, gateway, caller["key"], amount=0.4, request_id="call-7"))
    assert again["reservation_id"] == first["reservation_id"]
    assert again["scopes"]["team"]["reserved"] == 0.4


@pytest.mark.parametrize("case", ["unknown", "blocked", "expired", "team_blocked"])
def test_an_end_user_key_that_cannot_call_is_invalid_user_key(api, gateway, caller, case):
    key = caller["key"]
    if case == "unknown":
        key = {"key": "sk-nobody"}
    elif case == "blocked":
        api.ok(api.post("/key/delete", {"keys": [key["key"]]}))
    elif case == "expired":
        key = api.new_key(user_id=caller["user"]["user_id"], duration="1s")
        import time
        time.sleep(1.1)
    else:
        api.ok(api.post("/team/block", {"team_id": caller["team"]["team_id"]}))
    reply = _reserve(api, gateway, key)
    assert reply.status == 401, reply
    assert reply.body["detail"]["type"] == "invalid_user_key"


def test_the_gateway_s_own_key_is_checked_first(api, caller):
    plain = _reserve(api, "sk-not-a-key", caller["key"])
    assert plain.status == 401 and "type" not in plain.body["detail"]
    member_key = api.new_key(user_id=caller["user"]["user_id"])["key"]
    assert _reserve(api, member_key, caller["key"]).status == 403
    assert _reserve(api, MASTER_KEY, caller["key"]).status == 200


def test_a_model_outside_the_key_s_or_team_s_models_is_403(api, gateway, caller):
    api.ok(api.post("/team/update", {"team_id": caller["team"]["team_id"],
                                     "models": ["gpt-4o"]}))
    assert _reserve(api, gateway, caller["key"], model="gpt-4o").status == 200
    refused = _reserve(api, gateway, caller["key"], model="claude-3")
    assert refused.status == 403, refused


@pytest.mark.parametrize("body", [{"amount": -1}, {"amount": float("nan")},
                                  {"amount": 0.1, "ttl_seconds": 0},
                                  {"amount": 0.1, "ttl_seconds": 3601}])
def test_bad_amounts_and_leases_are_400(api, gateway, caller, body):
    reply = api.post("/spend/reserve", {"key": caller["key"]["key"]} | body, key=gateway)
    assert reply.status in (400, 422), reply


def test_an_unknown_reservation_is_404(api, gateway):
    assert api.post("/spend/settle", {"reservation_id": "nope", "spend": 1},
                    key=gateway).status == 404
    assert api.post("/spend/release", {"reservation_id": "nope"}, key=gateway).status == 404


def test_a_lease_that_runs_out_is_charged_and_a_late_settle_corrects_it(api, gateway, caller):
    rid = api.ok(_reserve(api, gateway, caller["key"], amount=0.5,
                          ttl_seconds=1))["reservation_id"]
    report = budget_reset.run(now=utcnow() + timedelta(minutes=2))
    assert report.charged >= 1
    team = _scopes(api, gateway, caller["key"])["team"]
    assert (team["spend"], team["reserved"]) == (0.5, 0.0)
    # Charged once, however often the schedule runs
    budget_reset.run(now=utcnow() + timedelta(minutes=3))
    assert _scopes(api, gateway, caller["key"])["team"]["spend"] == 0.5
    # A late settle replaces the charge by the actual spend
    settled = api.ok(api.post("/spend/settle", {"reservation_id": rid, "spend": 0.2},
                              key=gateway))
    assert settled["scopes"]["team"]["spend"] == pytest.approx(0.2)
    assert _scopes(api, gateway, caller["key"])["team"]["spend"] == pytest.approx(0.2)


def test_a_budget_reset_keeps_reservations_in_flight(api, gateway):
    bob = api.new_user()
    team = api.new_team(max_budget=1.0, budget_duration="30m",
                        members_with_roles=[{"user_id": bob["user_id"], "role": "user"}])
    key = api.new_key(user_id=bob["user_id"], team_id=team["team_id"])
    done = api.ok(_reserve(api, gateway, key, amount=0.3))["reservation_id"]
    api.ok(api.post("/spend/settle", {"reservation_id": done, "spend": 0.3}, key=gateway))
    api.ok(_reserve(api, gateway, key, amount=0.4, ttl_seconds=3600))
    budget_reset.run(now=utcnow() + timedelta(minutes=31))  # before the lease (1 h) ends
    state = _scopes(api, gateway, key)["team"]
    assert (state["spend"], state["reserved"], state["remaining"]) == (0.0, 0.4, 0.6)


def test_a_new_budget_and_a_new_period_in_one_update_restart_the_counter(api, gateway, caller):
    # Given a team that has spent; when one update sets a budget and a new period
    rid = api.ok(_reserve(api, gateway, caller["key"], amount=0.5))["reservation_id"]
    api.ok(api.post("/spend/settle", {"reservation_id": rid, "spend": 0.4}, key=gateway))
    held = api.ok(_reserve(api, gateway, caller["key"], amount=0.25))
    reply = api.ok(api.post("/team/update", {"team_id": caller["team"]["team_id"],
                                             "max_budget": 2.0, "budget_duration": "1d"}))
    # Then spend starts again at 0 under the new budget, and the hold in flight stays
    assert reply["data"]["spend"] == 0.0 and reply["data"]["max_budget"] == 2.0
    team = _scopes(api, gateway, caller["key"])["team"]
    assert (team["spend"], team["reserved"], team["max_budget"], team["remaining"]) == (
        0.0, 0.25, 2.0, 1.75)
    assert held["scopes"]["team"]["reserved"] == 0.25


def test_a_team_being_deleted_takes_no_more_spend(api, caller):
    # Given a team with spend on its counter, marked for deletion (as team/delete does first)
    key = caller["key"]
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 1.0}))
    from teamledger.domain import teams as team_domain
    from teamledger.domain.callers import Actor, Caller

    admin = Actor(Caller(token="t", user_id="default_user_id", role="proxy_admin",
                         is_master=True), None)
    view = team_domain.stores().teams.load(caller["team"]["team_id"])
    team_domain._mark_deleting(admin, [view.team])
    # When a report arrives for its key: the key and user count it, the team does not
    reply = api.ok(api.post("/spend/track", {"token": key["token"], "spend": 0.5}))
    assert reply["key"]["spend"] == 1.5 and reply["user"]["spend"] == 1.5
    assert reply["team"] is None and reply["team_membership"] is None


def test_a_late_duplicate_of_a_refused_reserve_holds_nothing(api, gateway, monkeypatch):
    from teamledger.domain import leases, reservations
    from teamledger.store import stores

    # Given a team budget of 0.30 with 0.20 held, a reserve of 0.20 with a request_id is refused
    # by the team's counter itself (as when a concurrent call took the room after the read)
    bob = api.new_user()
    team = api.new_team(max_budget=0.3, members_with_roles=[{"user_id": bob["user_id"]}])
    key = api.new_key(user_id=bob["user_id"], team_id=team["team_id"])
    first = api.ok(_reserve(api, gateway, key, amount=0.2))
    with monkeypatch.context() as patched:
        patched.setattr(reservations, "_precheck", lambda *_: None)
        refused = _reserve(api, gateway, key, amount=0.2, request_id="dup")
    assert refused.status == 429, refused
    # and the budget then has room again (released by another environment: another writer,
    # so the refused request's writer has taken no later token on that counter)
    with ThreadPoolExecutor(1) as other:
        other.submit(lambda: api.ok(api.post("/spend/release", {
            "reservation_id": first["reservation_id"]}, key=gateway))).result()
    # When a duplicate of that request, which read the reservation while it was still held,
    # sends its steps now (as a gateway's resend racing the first would)
    rid = reservations._reservation_id(key["token"], "dup")
    stale = stores().reservations.get(rid) | {"state": leases.HELD}
    reservations._hold(stale)
    # Then nothing is held (the refusal fenced every step off), and a retry answers the refusal
    team_scope = _scopes(api, gateway, key)["team"]
    assert (team_scope["reserved"], team_scope["spend"]) == (0.0, 0.0)
    again = _reserve(api, gateway, key, amount=0.2, request_id="dup")
    assert again.status == 429 and again.body["detail"]["scope"] == "team", again


@pytest.mark.parametrize("few", [0, 20])
def test_team_info_shows_each_membership_s_spend_whatever_its_size(api, gateway, caller,
                                                                   monkeypatch, few):
    # Given spend on bob's membership; read one by one (few members) or by the partition
    from teamledger.domain import teams as team_domain

    monkeypatch.setattr(team_domain, "FEW_MEMBERS", few)
    api.ok(api.post("/spend/track", {"token": caller["key"]["token"], "spend": 0.75}))
    info = api.ok(api.get("/team/info", query={"team_id": caller["team"]["team_id"]}))
    spend = {m["user_id"]: m["spend"] for m in info["team_memberships"]}
    assert spend[caller["user"]["user_id"]] == 0.75 and spend["default_user_id"] == 0.0
    assert [k["spend"] for k in info["keys"]] == [0.75]
