"""The scheduled budget reset: every team, membership budget, key and user whose
`budget_reset_at` has passed gets spend 0 and its next boundary, audited. The same run then
charges the reservations whose lease ran out unsettled (domain/leases.expire_leases).

It reads only what is due (ResetStore: a sparse index sharded 16 ways, one read per item due);
shards run in parallel. Each reset is a transaction of the conditional update (the reset time
as read: a concurrent run, or a retry, that already reset this boundary fails the condition and
moves on) and its AuditLog. The next reset is the first boundary of the period grid after now,
counted from the budget's anchor, so there is no drift and a job that missed periods lands on
the next future boundary. It stops before the Lambda time limit and leaves the rest to the next
run, which finds them still due.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from teamledger.domain import audit, leases
from teamledger.domain.durations import BudgetPeriod
from teamledger.domain.scopes import stable_id
from teamledger.errors import BadRequest, Busy, TransactionCancelled
from teamledger.store import stores
from teamledger.store.retry import retry
from teamledger.timestamps import from_iso, to_iso, utcnow

Item = dict[str, Any]
JOB = "litellm_budget_reset_job"
WORKERS = 8
MARGIN_MS = 15_000  # stop this long before the Lambda time limit
# The metric a run emits: how many items it could not reset (0 on a clean run).
FAILURES_METRIC = "BudgetResetFailures"
ROUNDS = 3  # tries of one item when its transaction meets a conflict

_TABLES = {"team": audit.TEAM_TABLE, "member": audit.MEMBERSHIP_TABLE,
           "key": audit.KEY_TABLE, "user": audit.USER_TABLE}


@dataclass
class Report:
    read: int = 0  # items read (index entries and re-reads)
    reset: int = 0
    skipped: int = 0  # reset by someone else first, or not a budget after all
    stopped_early: bool = False
    leases: int = 0  # reservations whose lease ended since the last run
    charged: int = 0  # of them, charged unsettled (their amount, as spend)
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Report") -> None:
        self.read += other.read
        self.reset += other.reset
        self.skipped += other.skipped
        self.stopped_early |= other.stopped_early
        self.errors += other.errors

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "reset": self.reset, "skipped": self.skipped,
                "stopped_early": self.stopped_early, "leases": self.leases,
                "charged": self.charged, "errors": self.errors[:10]}


def run(now: datetime | None = None, remaining_ms: Callable[[], int] | None = None,
        workers: int = WORKERS) -> Report:
    """One run as of `now` (the clock by default: tests pass the moment they need)."""
    moment = now or utcnow()
    remaining = remaining_ms or (lambda: 10**9)
    report = Report()
    with ThreadPoolExecutor(workers) as pool:
        for shard_report in pool.map(lambda shard: _shard(shard, moment, remaining),
                                     range(stores().resets.shards)):
            report.add(shard_report)
    if remaining() >= MARGIN_MS:
        leases.expire_leases(moment, report)
    return report


def _shard(shard: int, now: datetime, remaining: Callable[[], int]) -> Report:
    report = Report()
    start: Item | None = None
    while True:
        if remaining() < MARGIN_MS:
            report.stopped_early = True
            return report
        items, start = stores().resets.due(shard, to_iso(now), start)
        for item in items:
            if remaining() < MARGIN_MS:
                report.stopped_early = True
                return report
            report.read += 1
            _reset(item, now, report)
        if not start:
            return report


def object_id(item: Item) -> audit.ObjectId:
    entity = item["entity"]
    if entity == "team":
        return audit.object_id(str(item["team_id"]))
    if entity == "member":
        return audit.membership_id(item["team_id"], item["user_id"])
    if entity == "key":
        return audit.object_id(stable_id(item))
    return audit.object_id(str(item["user_id"]))


def _reset(item: Item, now: datetime, report: Report) -> None:
    tries = [0]

    def attempt() -> bool:
        tries[0] += 1
        current = item
        if tries[0] > 1:  # a lost race: read it again, it may be done or gone
            report.read += 1
            again = stores().resets.reread(item)
            if again is None or not again.get("budget_reset_at") or \
                    again["budget_reset_at"] > to_iso(now):
                return False  # gone, or reset by someone else meanwhile
            current = again
        try:
            return _commit_reset(current, now)
        except (BadRequest, KeyError, ValueError) as error:
            report.errors.append(f"{current.get('entity')} {_safe_id(current)}: {error}")
            return False

    try:
        done = retry(attempt, "budget reset conflicts", limit=ROUNDS)
    except (Busy, TransactionCancelled):
        done = False  # conflicts all the way, or throttled: the next run finds it still due
    if done:
        report.reset += 1
    else:
        report.skipped += 1


def _safe_id(item: Item) -> str:
    try:
        return object_id(item)
    except KeyError:
        return "?"


def _commit_reset(item: Item, now: datetime) -> bool:
    """True: reset; False: nothing to do. TransactionCancelled: the item changed meanwhile."""
    if item.get("entity") not in _TABLES:
        return False
    old = item["budget_reset_at"]
    duration = item.get("budget_duration")
    tx = stores().transaction()
    if not duration:
        stores().resets.unschedule(tx, item)
        tx.commit()
        return True
    period = BudgetPeriod.parse(duration)
    next_reset = to_iso(period.next_reset(from_iso(item.get("budget_anchor") or old), now))
    ended = stores().resets.reset(tx, item, next_reset)
    audit.record(tx, None, audit.UPDATED, _TABLES[item["entity"]], object_id(item),
                 {"spend": ended, "budget_reset_at": old},
                 {"spend": 0, "budget_reset_at": next_reset}, changed_by=JOB,
                 team_id=item.get("team_id") if item["entity"] != "user" else None)
    tx.commit()
    return True
