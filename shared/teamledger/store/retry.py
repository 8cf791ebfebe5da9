"""The one optimistic-retry loop of the layer: read, check, write on condition; a lost race
(a condition that no longer holds, a transaction conflict) starts again from the read.

Every read-check-write in the domain goes through `retry`, so they all treat cancellations
alike: only lost races are retried; throttling or a validation error surfaces at once.
"""

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from teamledger.errors import Busy, TransactionCancelled

ATTEMPTS = 10
T = TypeVar("T")


def attempts(limit: int | None = None) -> Iterator[int]:
    """The rounds of a retry loop (ATTEMPTS unless given), with jittered backoff between them
    so that writers who lost a race do not collide again in lockstep."""
    for attempt in range(limit or ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** attempt)))
        yield attempt


def retry(attempt: Callable[[], T], busy: str, *, limit: int | None = None) -> T:
    """`attempt()` until it returns; a retryable TransactionCancelled runs it again, up to
    `limit` (ATTEMPTS) times, then `Busy(busy)` (a 503 to retry). Anything else propagates."""
    for _ in attempts(limit):
        try:
            return attempt()
        except TransactionCancelled as cancelled:
            if not cancelled.retryable:
                raise
    raise Busy(busy)
