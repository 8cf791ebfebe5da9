"""Money in units of 1e-10 USD: amounts as written (0.1 is a tenth, not its binary float), spend
and budgets to the nearest unit, reservations up to the next one, and no amount that is not a
finite number."""

from decimal import Decimal

import pytest
from teamledger.money import MAX_UNITS, UNIT, units, units_up, usd


def test_a_unit_is_a_ten_billionth_of_a_dollar():
    assert UNIT == 10**10
    assert (units(1), units(1.0), units(Decimal("1"))) == (UNIT,) * 3
    assert units(1e15) == MAX_UNITS


@pytest.mark.parametrize(("amount", "expected"), [
    (0.1, 10**9), (0.3, 3 * 10**9), (0.07, 7 * 10**8), (1.23456789012345e-7, 1235),
    (1e-10, 1), (5.0, 5 * 10**10), (0, 0), (-0.1, -(10**9))])
def test_units_are_the_amount_as_written(amount, expected):
    # 0.1 is 1e9 units exactly: the float's shortest text, not 0.1000000000000000055...
    assert units(amount) == expected
    assert isinstance(units(amount), int)


def test_fifty_reservations_of_a_tenth_are_exactly_five_dollars():
    assert sum(units_up(0.1) for _ in range(50)) == units(5.0)
    assert sum(units(0.1) for _ in range(3)) == units(0.3)  # where 0.1 + 0.1 + 0.1 != 0.3


def test_units_round_half_to_even_and_units_up_round_up():
    assert (units(Decimal("1.5e-10")), units(Decimal("2.5e-10"))) == (2, 2)
    assert (units(1.4e-10), units(1.6e-10)) == (1, 2)
    assert units(4e-11) == 0
    # A reservation never holds less than asked: any fraction of a unit is one more
    assert (units_up(4e-11), units_up(1.0000000001e-10), units_up(1e-10)) == (1, 2, 1)
    assert units_up(0.1) == 10**9  # exact amounts are not rounded up
    assert units_up(-4e-11) == 0  # ceiling: toward +infinity


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), float("-inf")])
def test_an_amount_that_is_not_a_finite_number_is_refused(amount):
    with pytest.raises(ValueError):
        units(amount)
    with pytest.raises(ValueError):
        units_up(amount)


def test_usd_answers_units_as_a_float():
    assert usd(10**9) == 0.1 and isinstance(usd(10**9), float)
    assert (usd(None), usd(0), usd(Decimal(25 * 10**8))) == (0.0, 0.0, 0.25)
    assert usd(-(10**9)) == -0.1
    for amount in (0.1, 0.123, 4.877, 1e-10, 123456.789):
        assert usd(units(amount)) == amount
