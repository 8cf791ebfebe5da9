"""The API's timestamps: ISO-8601 UTC, a 4-digit year, six fractional digits and a Z, so that
text order is time order."""

from collections.abc import Callable
from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _wall_clock() -> datetime:
    return datetime.now(UTC)


_clock: list[Callable[[], datetime]] = [_wall_clock]


def utcnow() -> datetime:
    return _clock[0]()


def use_clock(clock: Callable[[], datetime] | None) -> None:
    """Read the time from `clock` (a test's), or from the wall clock again with None: periods,
    expiries and resets then happen when the test says, without waiting for them."""
    _clock[0] = clock or _wall_clock


def to_iso(moment: datetime) -> str:
    """Always a 4-digit year (0999, not strftime's 999 on Linux): text order is time order
    only at a fixed width."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
