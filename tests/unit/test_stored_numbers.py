"""Numbers as they are written to DynamoDB (issue 13, defect 8): a spend of 5e-7 was once
stored as `5e-07`, and moto's ADD could not read the sum back, so every later report of the
key was a 503. Money is whole units of 1e-10 USD now, and no number is ever written with an
exponent, whatever type it arrives as."""

import re
from decimal import Decimal

import pytest
from teamledger.domain import spend, teams
from teamledger.domain.keys import create_key, new_key
from teamledger.http.models import SpendTrackRequest, TeamNewRequest
from teamledger.money import UNIT, units, units_up, usd
from teamledger.store.marshal import from_attr, to_attr
from teamledger.store.refs import KeyRef, MemberRef, TeamRef, UserRef

from tests.unit.conftest import ADMIN

PLAIN = re.compile(r"^-?\d+(\.\d+)?$")  # digits, maybe a fraction: no exponent, no sign of one
TINY_AND_HUGE = [5e-7, 1e-10, 1.5e-10, 2.5e-9, 3.3e-8, 1e-5, 0.01, 1e14, 1e15]


@pytest.mark.parametrize("amount", TINY_AND_HUGE)
def test_money_in_units_is_a_plain_integer_whatever_its_size(amount):
    stored = to_attr(units(amount))
    assert re.match(r"^\d+$", stored["N"]), stored
    assert usd(from_attr(stored)) == usd(units(amount))
    # to the nearest unit (1.5e-10 is 2 units: half to even)
    assert abs(Decimal(repr(usd(from_attr(stored)))) - Decimal(repr(amount))) <= Decimal("5e-11")
    assert re.match(r"^\d+$", to_attr(units_up(amount))["N"])


def test_5e_7_then_1_cent_is_their_exact_sum():
    total = units(5e-7) + units(0.01)
    assert total == 5_000 + 100_000_000
    assert to_attr(total) == {"N": "100005000"}
    assert usd(total) == 0.0100005


@pytest.mark.parametrize("value", [
    *TINY_AND_HUGE, 1e-130, 1.2345e-100, 1e16, 1e124, 9.99e124, -5e-7, 123456789.123456789,
    10**37, -(10**37)])
def test_no_number_is_written_with_an_exponent(value):
    text = to_attr(value)["N"]
    assert PLAIN.match(text), text
    # And it reads back as the same value of the same type (a float stays a float)
    back = from_attr({"N": text})
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("5E-7"), "0.0000005"), (Decimal("1E+3"), "1000"), (Decimal("-2.5E-10"),
                                                                 "-0.00000000025"),
    (Decimal("0.01"), "0.01"), (Decimal(5 * UNIT), "50000000000")])
def test_a_decimal_is_written_without_its_exponent_too(value, text):
    assert to_attr(value) == {"N": text}


def test_a_key_s_owners_count_5e_7_and_then_1_cent_exactly(fake):
    # Given a fresh key of alice in team t1
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", members_with_roles=[
        {"user_id": "alice"}]))
    tx = fake.transaction()
    _, key = new_key(user_id="alice", team_id="t1", user_role="internal_user", now="x")
    create_key(tx, ADMIN, key)
    tx.commit()
    # When 5e-7 and then 0.01 are reported
    for amount in (5e-7, 0.01):
        answer = spend.track_spend(ADMIN, SpendTrackRequest(token=key["token"], spend=amount))
    # Then every scope holds their exact sum, as whole units
    assert {answer.key.spend, answer.user.spend, answer.team.spend,
            answer.team_membership.spend} == {0.0100005}
    for ref in (KeyRef(key["token"]), UserRef("alice"), TeamRef("t1"), MemberRef("t1", "alice")):
        assert fake.data.counters[ref]["spend"] == 100_005_000
