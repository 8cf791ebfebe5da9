"""Items round-trip through DynamoDB's attribute format without losing types or money."""

import math

import pytest
from teamledger.store import table
from teamledger.store.marshal import from_attr, to_attr


@pytest.mark.parametrize("value", [
    None, True, False, "", "text", 0, 7, -3, 0.01, 1e-7, 123456.789, [], [1, "a", None],
    {"nested": {"list": [1.5, {"x": False}]}}])
def test_values_round_trip(value):
    assert from_attr(to_attr(value)) == value


def test_money_is_stored_as_its_shortest_decimal():
    assert to_attr(0.1) == {"N": "0.1"}
    assert isinstance(from_attr({"N": "1.00"}), float)
    assert isinstance(from_attr({"N": "100"}), int)


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError):
        to_attr(math.nan)


def test_update_expression_sets_and_removes():
    expression, names, values = table.update_expression({"a": 1, "b": None})
    assert expression == "SET #f0 = :f0 REMOVE #f1"
    assert names == {"#f0": "a", "#f1": "b"} and values == {":f0": 1}
