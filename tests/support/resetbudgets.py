"""The budget reset outside AWS: `make dev` runs it on a schedule (ResetSchedule), and
`make reset-budgets` runs it once against the running `make dev`.

    PORT=3000 .venv/bin/python -m tests.support.resetbudgets
    RESET_NOW=2026-11-27T07:00:00Z make reset-budgets

Environment read, as `make dev` reads it: PORT (3000: the dev server whose endpoint and table
to use), AWS_ENDPOINT_URL (set: that endpoint instead), TABLE_NAME. RESET_NOW, an ISO-8601
time (without a zone: UTC), runs the reset as of that moment instead of the clock's: budgets
due by then are reset, each to its first boundary after it, so a test (or an operator) can
pass a period's end without waiting for it. Prints the run's report (read, reset, skipped,
stopped_early, errors) as one JSON line; exits 1 if it has errors, 2 if RESET_NOW is not a time.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from tests.support import devstate
from tests.support.apigw import LambdaContext
from tests.support.template import REPO_ROOT

EVENT = json.loads((REPO_ROOT / "events" / "budget_reset.json").read_text())
FUNCTION = "BudgetResetFunction"
TIMEOUT_MS = 300_000  # the template's Timeout for the function
DEFAULT_INTERVAL_S = 60.0

log = logging.getLogger("teamledger.devserver")


def invoke_once(now: datetime | None = None) -> dict:
    """One invocation of the function's handler with the schedule's event, as Lambda would.
    With `now`, the same run as of that moment: the handler reads the clock, so the layer's
    reset is called directly with `now`, under the function's time limit, and answers the
    report the handler would."""
    context = LambdaContext(function_name=FUNCTION, timeout_millis=TIMEOUT_MS)
    if now is None:
        handler = importlib.import_module("functions.budget_reset.app").lambda_handler
        return handler(EVENT, context)
    from teamledger.domain import budget_reset

    return budget_reset.run(now=now, remaining_ms=context.get_remaining_time_in_millis).as_dict()


def reset_now(text: str | None) -> datetime | None:
    """RESET_NOW as a moment (None when unset or empty); a time without a zone is UTC."""
    if not text or not text.strip():
        return None
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ResetSchedule:
    """`make dev`'s stand-in for the EventBridge schedule: every BUDGET_RESET_INTERVAL seconds
    (60 locally; the template's BudgetResetMinutes in AWS), under the invocation lock."""

    def __init__(self, invocation_lock: threading.Lock, interval_s: float | None = None):
        self.interval_s = interval_s or float(
            os.environ.get("BUDGET_RESET_INTERVAL") or DEFAULT_INTERVAL_S)
        self._lock = invocation_lock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="budget-reset", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with self._lock:
                    report = invoke_once()
            except Exception:  # noqa: BLE001 - a failed run is logged; the next one retries
                log.exception("budget reset run failed")
                continue
            if report.get("reset") or report.get("errors"):
                log.info("budget reset: %s", json.dumps(report))


def main() -> int:
    try:
        now = reset_now(os.environ.get("RESET_NOW"))
    except ValueError as error:
        print(f"reset-budgets: RESET_NOW is not an ISO-8601 time: {error}", file=sys.stderr)
        return 2
    try:
        devstate.use_dev_endpoint()
    except devstate.NoDevServer as error:
        print(f"reset-budgets: {error}", file=sys.stderr)
        return 1
    state = devstate.read(int(os.environ.get("PORT") or devstate.DEFAULT_PORT))
    os.environ.setdefault("TABLE_NAME", state.table_name if state else "teamledger")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "teamledger")
    sys.path.insert(0, str(REPO_ROOT / "shared"))
    report: dict[str, Any] = invoke_once(now)
    print(json.dumps(report))
    return 0 if not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
