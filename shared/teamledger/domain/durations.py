"""Budget durations (`^\\d+(s|m|h|d|w|mo)$`) and the period grid they define.

A period counts from an anchor, the first `budget_reset_at`: the k-th boundary is anchor + k
periods. Months are added to the anchor (not chained), clamped to the month's last day, so
Jan 31 -> Feb 28 -> Mar 31 and nothing drifts.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from teamledger.errors import BadRequest

_PATTERN = re.compile(r"([0-9]{1,7})(s|m|h|d|w|mo)")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_MONTHS = 100 * 12
_MAX_SECONDS = 100 * 366 * 86400


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class BudgetPeriod:
    count: int
    unit: str

    @classmethod
    def parse(cls, text: str, field: str = "budget_duration") -> "BudgetPeriod":
        # fullmatch: with match, `$` would also accept a trailing newline ("1d\n").
        match = _PATTERN.fullmatch(text) if isinstance(text, str) else None
        if not match:
            raise BadRequest(
                f"Invalid {field} {_shown(text)}: use a number and one of s, m, h, d, w, mo "
                "(e.g. 30s, 1h, 7d, 1mo)"
            )
        period = cls(int(match.group(1)), match.group(2))
        if period.count < 1 or period.too_long():
            raise BadRequest(f"Invalid {field} {_shown(text)}: must be between 1s and 100 years")
        return period

    def too_long(self) -> bool:
        if self.unit == "mo":
            return self.count > _MAX_MONTHS
        return self.count * _SECONDS[self.unit] > _MAX_SECONDS

    def boundary(self, anchor: datetime, k: int) -> datetime:
        """The k-th boundary counted from the anchor (k = 0 is the anchor itself)."""
        if self.unit == "mo":
            return add_months(anchor, k * self.count)
        return anchor + timedelta(seconds=k * self.count * _SECONDS[self.unit])

    def first_reset(self, now: datetime) -> datetime:
        return self.boundary(now, 1)

    def next_reset(self, anchor: datetime, now: datetime) -> datetime:
        """The first boundary strictly after `now` (a job that missed periods skips them)."""
        k = max(self._periods_between(anchor, now), 0)
        while self.boundary(anchor, k) <= now:
            k += 1
        return self.boundary(anchor, k)

    def _periods_between(self, anchor: datetime, now: datetime) -> int:
        # An estimate at most one period low; next_reset walks the rest.
        if self.unit == "mo":
            months = (now.year - anchor.year) * 12 + now.month - anchor.month
            return months // self.count - 1
        return int((now - anchor).total_seconds() // (self.count * _SECONDS[self.unit]))


def _shown(text: str, limit: int = 40) -> str:
    """The value as the 400 quotes it: at most `limit` characters, so an answer never echoes a
    huge input."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"
