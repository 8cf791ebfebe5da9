"""Durations and the period grid (docs/api.md: Durations)."""

from datetime import UTC, datetime

import pytest
from teamledger.domain.durations import BudgetPeriod
from teamledger.errors import BadRequest


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("text", "count", "unit"), [
    ("30s", 30, "s"), ("1m", 1, "m"), ("2h", 2, "h"), ("7d", 7, "d"), ("1w", 1, "w"),
    ("1mo", 1, "mo"), ("1200mo", 1200, "mo"), ("36500d", 36500, "d")])
def test_valid_durations_parse(text, count, unit):
    assert BudgetPeriod.parse(text) == BudgetPeriod(count, unit)


@pytest.mark.parametrize("text", [
    "30days", "0d", "-1d", "1y", "mo", "d", "", " 1d", "1d\n", "1.5h", "1201mo", "40000d",
    "1 d", "1D", "１d"])
def test_invalid_durations_are_400(text):
    with pytest.raises(BadRequest, match="budget_duration"):
        BudgetPeriod.parse(text)


@pytest.mark.parametrize(("anchor", "months", "expected"), [
    ("2026-01-31T00:00:00", 1, "2026-02-28T00:00:00"),
    ("2026-01-31T00:00:00", 2, "2026-03-31T00:00:00"),
    ("2028-01-31T00:00:00", 1, "2028-02-29T00:00:00"),
    ("2026-11-15T10:00:00", 2, "2027-01-15T10:00:00"),
])
def test_month_boundaries_count_from_the_anchor_and_clamp(anchor, months, expected):
    assert BudgetPeriod(1, "mo").boundary(at(anchor), months) == at(expected)


def test_next_reset_skips_missed_periods_without_drift():
    period, anchor = BudgetPeriod(1, "h"), at("2026-11-27T06:00:00")
    # a job that did not run for three periods lands on the next future boundary
    assert period.next_reset(anchor, at("2026-11-27T09:30:00")) == at("2026-11-27T10:00:00")
    assert period.next_reset(anchor, at("2026-11-27T10:00:00")) == at("2026-11-27T11:00:00")


def test_next_reset_by_months_walks_the_clamped_grid():
    period, anchor = BudgetPeriod(1, "mo"), at("2026-01-31T00:00:00")
    assert period.next_reset(anchor, at("2026-02-28T00:00:01")) == at("2026-03-31T00:00:00")
    assert period.next_reset(anchor, at("2026-04-15T00:00:00")) == at("2026-04-30T00:00:00")


@pytest.mark.parametrize(("text", "now", "expected"), [
    ("30s", "2026-11-27T06:01:45", "2026-11-27T06:02:00"),  # 3.5 periods missed
    ("15m", "2026-11-27T07:00:00", "2026-11-27T07:15:00"),  # exactly on a boundary: the next
    ("2h", "2026-11-28T05:59:59", "2026-11-28T06:00:00"),
    ("1d", "2026-12-01T00:00:00", "2026-12-01T06:00:00"),
    ("1w", "2027-01-01T00:00:00", "2027-01-01T06:00:00"),   # 2026-11-27 is a Friday, so is this
    ("3mo", "2027-02-27T06:00:00", "2027-05-27T06:00:00"),
    ("12mo", "2030-06-01T00:00:00", "2030-11-27T06:00:00"),
])
def test_next_reset_of_every_unit_is_the_first_future_boundary(text, now, expected):
    period, anchor = BudgetPeriod.parse(text), at("2026-11-27T06:00:00")
    assert period.next_reset(anchor, at(now)) == at(expected)


@pytest.mark.parametrize(("anchor", "now", "expected"), [
    ("2024-02-29T12:00:00", "2025-02-28T12:00:01", "2025-03-29T12:00:00"),  # leap day anchor
    ("2027-12-31T00:00:00", "2028-02-01T00:00:00", "2028-02-29T00:00:00"),  # into a leap Feb
    ("2026-08-31T23:59:59", "2026-09-30T23:59:59", "2026-10-31T23:59:59"),  # 30 -> 31 days
    ("2026-01-31T00:00:00", "2036-02-01T00:00:00", "2036-02-29T00:00:00"),  # ten years missed
])
def test_months_by_the_calendar_over_leap_years_and_long_gaps(anchor, now, expected):
    assert BudgetPeriod(1, "mo").next_reset(at(anchor), at(now)) == at(expected)


@pytest.mark.parametrize("text", ["7s", "1m", "5h", "1d", "2w", "1mo", "5mo"])
def test_next_reset_agrees_with_walking_the_grid(text):
    # The estimate that skips missed periods never lands anywhere but where walking would
    period, anchor = BudgetPeriod.parse(text), at("2024-01-31T08:30:00")
    boundaries = [period.boundary(anchor, k) for k in range(400)]
    step = (boundaries[-1] - anchor) / 997
    for n in range(997):
        now = anchor + step * n
        assert period.next_reset(anchor, now) == next(b for b in boundaries if b > now)
