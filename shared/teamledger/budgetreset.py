"""The scheduled budget reset: every team, membership budget, key and user whose
`budget_reset_at` has passed gets spend 0 and its next boundary, audited.

It reads only what is due: GSI4 holds an entry only for budgets with a reset time, sharded over
RESET#0..15 and sorted by that time, so each shard is one Query `SK <= now` in pages; the items
come whole from the index (projection ALL), one read per item due. Shards run in parallel.

Each reset is a transaction of the conditional update (`budget_reset_at` as read: a concurrent
run, or a retry, that already reset this boundary fails the condition and moves on) and its
AuditLog. Spend is not part of the condition: an amount that lands while the boundary is being
reset belongs to the period that ended (and a condition on a decimal read back as a float could
never match); a spend added after the reset is kept. The next reset is
the first boundary of the period grid after now, counted from the budget's anchor, so there is
no drift and a job that missed periods lands on the next future boundary. It stops before the
Lambda time limit and leaves the rest to the next run, which finds them still due.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from teamledger import audit, db, itemkeys, teamstore
from teamledger.durations import BudgetPeriod
from teamledger.errors import BadRequest
from teamledger.timestamps import from_iso, to_iso, utcnow

JOB = "litellm_budget_reset_job"
PAGE = 100
WORKERS = 8
MARGIN_MS = 15_000  # stop this long before the Lambda time limit
ROUNDS = 3  # tries of one item when its transaction meets a conflict

_TABLES = {"team": audit.TEAM_TABLE, "member": audit.MEMBERSHIP_TABLE,
           "key": audit.KEY_TABLE, "user": audit.USER_TABLE}


@dataclass
class Report:
    read: int = 0  # items read (index entries and re-reads)
    reset: int = 0
    skipped: int = 0  # reset by someone else first, or not a budget after all
    stopped_early: bool = False
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Report") -> None:
        self.read += other.read
        self.reset += other.reset
        self.skipped += other.skipped
        self.stopped_early |= other.stopped_early
        self.errors += other.errors

    def as_dict(self) -> dict:
        return {"read": self.read, "reset": self.reset, "skipped": self.skipped,
                "stopped_early": self.stopped_early, "errors": self.errors[:10]}


def run(now: datetime | None = None, remaining_ms: Callable[[], int] | None = None,
        workers: int = WORKERS) -> Report:
    now = now or utcnow()
    remaining = remaining_ms or (lambda: 10**9)
    report = Report()
    with ThreadPoolExecutor(workers) as pool:
        for shard_report in pool.map(lambda shard: _shard(shard, now, remaining),
                                     range(itemkeys.RESET_SHARDS)):
            report.add(shard_report)
    return report


def _shard(shard: int, now: datetime, remaining: Callable[[], int]) -> Report:
    report = Report()
    start_key = None
    while True:
        if remaining() < MARGIN_MS:
            report.stopped_early = True
            return report
        items, start_key = db.query(itemkeys.reset_shard(shard), index="GSI4", limit=PAGE,
                                    sk_between=("0", to_iso(now)), start_key=start_key)
        for item in items:
            if remaining() < MARGIN_MS:
                report.stopped_early = True
                return report
            report.read += 1
            _reset(item, now, report)
        if not start_key:
            return report


def _object_id(item: dict) -> str:
    entity = item["entity"]
    if entity == "team":
        return item["team_id"]
    if entity == "member":
        return audit.membership_id(item["team_id"], item["user_id"])
    if entity == "key":
        return item["token"]
    return item["user_id"]


def _reset(item: dict, now: datetime, report: Report) -> None:
    for round_ in range(ROUNDS):
        if round_:
            item = db.get(itemkeys.key(item["PK"], item["SK"]))
            report.read += 1
            if item is None or not item.get("budget_reset_at") or \
                    item["budget_reset_at"] > to_iso(now):
                report.skipped += 1  # gone, or reset by someone else meanwhile
                return
        try:
            outcome = _commit_reset(item, now)
        except (BadRequest, KeyError, ValueError) as error:
            report.errors.append(f"{item.get('PK')}: {error}")
            report.skipped += 1
            return
        if outcome is not None:
            if outcome:
                report.reset += 1
            else:
                report.skipped += 1
            return
    report.skipped += 1  # conflicts all the way; the next run finds it still due


def _commit_reset(item: dict, now: datetime) -> bool | None:
    """True: reset; False: nothing to do; None: the item changed under us, read it again."""
    if item.get("entity") not in _TABLES:
        return False
    old = item["budget_reset_at"]
    duration = item.get("budget_duration")
    key = itemkeys.key(item["PK"], item["SK"])
    tx = db.Transaction()
    if not duration:  # a reset time left without a schedule: leave the index, keep spend
        tx.update(key, "REMOVE GSI4PK, GSI4SK, budget_reset_at", values={":old": old},
                  condition="budget_reset_at = :old")
        return _commit(tx)
    period = BudgetPeriod.parse(duration)
    next_reset = to_iso(period.next_reset(from_iso(item.get("budget_anchor") or old), now))
    changes = {"spend": 0.0, "budget_reset_at": next_reset, "GSI4SK": next_reset}
    condition = "budget_reset_at = :old"
    values = {":old": old}
    names = {}
    if item["entity"] == "team":
        changes |= itemkeys.spend_index(item["team_id"], 0.0)
        condition += " AND #status = :active"
        values[":active"] = teamstore.ACTIVE
        names["#status"] = "status"
    expression, change_names, change_values = db.update_expression(changes)
    tx.update(key, expression, values=change_values | values, names=change_names | names,
              condition=condition)
    audit.record(tx, None, audit.UPDATED, _TABLES[item["entity"]], _object_id(item),
                 {"spend": item.get("spend", 0), "budget_reset_at": old},
                 {"spend": 0, "budget_reset_at": next_reset}, changed_by=JOB)
    return _commit(tx)


def _commit(tx: db.Transaction) -> bool | None:
    try:
        tx.commit()
    except db.TransactionCancelled:
        return None
    return True
