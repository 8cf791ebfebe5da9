"""Tiny amounts beside ordinary ones (issue 13, defect 8): a spend of 5e-7 and then 0.01 on a
fresh key once answered 503 "A concurrent change won" forever, because the first sum was stored
as `5e-07` and moto's ADD could not read it back. Money is stored as whole units of 1e-10 USD
now; these tests send the amounts through every route that adds money (/spend/track, and
/spend/reserve with /spend/settle and /spend/release) and check the stored numbers."""

import re
from decimal import Decimal

import pytest

from tests.support.client import MASTER_KEY

# Each sequence starts on a fresh key; the first amount is the one that used to wedge it.
SEQUENCES = [
    pytest.param((5e-7, 0.01), id="5e-7 then 0.01"),
    pytest.param((1e-10, 0.01), id="the smallest amount then 0.01"),
    pytest.param((1.5e-9, 3e-8, 2.5e-10, 0.01, 1e-5), id="several tiny ones"),
    pytest.param((0.01, 5e-7, 0.01), id="a tiny one between ordinary ones"),
    pytest.param((1e14, 5e-7), id="a huge one then a tiny one"),
]
DIGITS = re.compile(r"^-?\d+$")


def _total(amounts) -> float:
    """The exact sum, in USD, as the service counts it (units of 1e-10, to the nearest)."""
    return float(sum(Decimal(repr(a)).quantize(Decimal("1e-10")) for a in amounts))


def _owned_key(api) -> dict:
    """A fresh key of a fresh user who is a member of a fresh team."""
    user = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": user["user_id"], "role": "user"}])
    key = api.new_key(user_id=user["user_id"], team_id=team["team_id"])
    return {"user": user, "team": team, "key": key}


@pytest.mark.parametrize("amounts", SEQUENCES)
def test_tiny_amounts_then_ordinary_ones_add_up_through_spend_track(api, amounts):
    # Given a fresh key of a user in a team
    owned = _owned_key(api)
    # When each amount is reported, one after the other
    for n, amount in enumerate(amounts):
        reply = api.post("/spend/track", {"token": owned["key"]["token"], "spend": amount})
        # Then every report is counted (never a 503 that stays)
        assert reply.status == 200, (n, amount, reply)
    # And every owner holds the exact sum
    total = _total(amounts)
    for scope in ("key", "user", "team", "team_membership"):
        assert reply.body[scope]["spend"] == total, (scope, reply.body)
    # And the admin routes read the same
    info = api.ok(api.get("/team/info", query={"team_id": owned["team"]["team_id"]}))
    assert info["team_info"]["spend"] == total
    assert api.ok(api.get("/key/info", query={"key": owned["key"]["token"]}))[
        "info"]["spend"] == total


@pytest.mark.parametrize("amounts", SEQUENCES)
def test_tiny_amounts_then_ordinary_ones_add_up_through_reserve_and_settle(api, amounts):
    # Given the gateway's key and a fresh key of a user in a team
    gateway = api.new_key(allowed_routes=["/spend/*"])["key"]
    owned = _owned_key(api)
    # When each amount is reserved and then settled at exactly that amount
    for amount in amounts:
        reserved = api.post("/spend/reserve", {"key": owned["key"]["key"], "amount": amount},
                            key=gateway)
        assert reserved.status == 200, (amount, reserved)
        settled = api.post("/spend/settle", {"reservation_id": reserved.body["reservation_id"],
                                             "spend": amount}, key=gateway)
        assert settled.status == 200, (amount, settled)
    # And a tiny reservation is released again
    held = api.ok(api.post("/spend/reserve", {"key": owned["key"]["key"], "amount": 5e-7},
                           key=gateway))
    api.ok(api.post("/spend/release", {"reservation_id": held["reservation_id"]}, key=gateway))
    # Then every scope holds the exact sum and nothing reserved
    scopes = api.ok(api.post("/spend/reserve", {"key": owned["key"]["key"], "amount": 0},
                             key=gateway))["scopes"]
    total = _total(amounts)
    for scope in ("key", "user", "team", "team_membership"):
        assert (scopes[scope]["spend"], scopes[scope]["reserved"]) == (total, 0.0), scope


def test_a_tiny_budget_admits_exactly_its_amount(api):
    # Given a key whose budget is 5e-7 and the gateway's key
    gateway = api.new_key(allowed_routes=["/spend/*"])["key"]
    user = api.new_user()
    key = api.new_key(user_id=user["user_id"], max_budget=5e-7)
    # When 5e-7 is reserved, then the smallest amount more
    first = api.post("/spend/reserve", {"key": key["key"], "amount": 5e-7}, key=gateway)
    second = api.post("/spend/reserve", {"key": key["key"], "amount": 1e-10}, key=gateway)
    # Then the budget holds exactly the first, and the second is over it
    assert first.status == 200, first
    assert second.status == 429, second
    assert first.body["scopes"]["key"] == {"spend": 0.0, "reserved": 5e-7, "max_budget": 5e-7,
                                           "remaining": 0.0}


def test_every_number_stored_for_money_is_a_whole_number_of_units(api):
    """The class, closed: whatever amounts arrive, what is stored for money (spend, reserved,
    used, budgets on the counters) is a plain integer text, never a fraction or an exponent."""
    from teamledger.store import keys as table_keys
    from teamledger.store.client import client, table_name
    from teamledger.store.marshal import to_item
    from teamledger.store.refs import KeyRef, MemberRef, TeamRef, UserRef

    # Given a key of a user in a team, with tiny budgets on each
    user = api.new_user(max_budget=3e-7)
    team = api.new_team(max_budget=7e-7, members_with_roles=[{"user_id": user["user_id"]}])
    api.ok(api.post("/team/member_update", {"team_id": team["team_id"],
                                            "user_id": user["user_id"],
                                            "max_budget_in_team": 1.5e-9}))
    key = api.new_key(user_id=user["user_id"], team_id=team["team_id"], max_budget=3.5e-10)
    gateway = api.new_key(allowed_routes=["/spend/*"])["key"]
    # When a tiny amount is reserved and settled, another reserved, and tiny amounts tracked
    for amount in (1e-10, 1.5e-10):
        held = api.post("/spend/reserve", {"key": key["key"], "amount": amount}, key=gateway)
        assert held.status == 200, held
    api.ok(api.post("/spend/settle", {"reservation_id": held.body["reservation_id"],
                                      "spend": 1.2e-10}, key=gateway))
    for amount in (5e-7, 1.5e-10, 3.3e-9):
        api.ok(api.post("/spend/track", {"token": key["token"], "spend": amount}, key=MASTER_KEY))
    # Then every counter's money is digits only
    refs = [KeyRef(key["token"]), UserRef(user["user_id"]), TeamRef(team["team_id"]),
            MemberRef(team["team_id"], user["user_id"])]
    for ref in refs:
        stored = client().get_item(TableName=table_name(), ConsistentRead=True,
                                   Key=to_item(table_keys.counter(ref)))["Item"]
        money = {name: value["N"] for name, value in stored.items()
                 if name in ("spend", "reserved", "used", "max_budget") and "N" in value}
        assert money and all(DIGITS.match(text) for text in money.values()), (ref, money)
