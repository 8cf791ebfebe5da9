"""Section 3: warm time per request spent outside DynamoDB (handler time minus the time between
botocore's before-call and after-call of each DynamoDB call), p50 and p99.

Also shown: the p50 without botocore's request building (parameter validation, serialization,
endpoint resolution), which that definition counts as outside DynamoDB."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.dynamo_calls import CallRecorder
from bench.handlers import Handlers, checked
from bench.request_counts import Fixture
from bench.tables import render, verdict

REQUESTS = 300
WARMUP = 20
TARGET_P50_MS = 0.3


@dataclass(frozen=True)
class Case:
    label: str
    key: str | None
    query: dict | None = None
    body: Callable[[int], dict] | None = None


def cases(fixture: Fixture) -> list[Case]:
    """Representative routes, called with the user key (so auth's GetItem is included)."""
    from teamledger.domain.callers import token_of

    team = {"team_id": fixture.team_id}
    return [
        Case("GET /team/info", fixture.user_key, query=team),
        Case("POST /team/update", fixture.user_key,
             body=lambda n: team | {"team_alias": f"bench-warm-{n}"}),
        Case("GET /key/info", fixture.user_key, query={"key": token_of(fixture.user_key)}),
        Case("GET /health/liveliness", None),
    ]


def _one(handlers: Handlers, recorder: CallRecorder, case: Case, n: int) -> tuple[int, int]:
    """(ns outside DynamoDB, of which ns building botocore requests) of one invocation."""
    method, path = case.label.split(" ", 1)
    body: Any = case.body(n) if case.body else None
    handler, event, context = handlers.prepare(method, path, key=case.key, body=body,
                                               query=case.query)
    recorder.inside_ns = recorder.building_ns = 0
    started = time.perf_counter_ns()
    result = handler(event, context)
    elapsed = time.perf_counter_ns() - started
    checked(method, path, result)
    return elapsed - recorder.inside_ns, recorder.building_ns


def _percentile(sorted_ns: list[int], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    rank = max(1, -(-len(sorted_ns) * fraction // 1))
    return sorted_ns[int(rank) - 1] / 1e6


def run(handlers: Handlers, recorder: CallRecorder, fixture: Fixture) -> dict[str, dict]:
    measured = {}
    for case in cases(fixture):
        for n in range(WARMUP):
            _one(handlers, recorder, case, -1 - n)
        pairs = [_one(handlers, recorder, case, n) for n in range(REQUESTS)]
        outside = sorted(total for total, _ in pairs)
        app_only = sorted(total - building for total, building in pairs)
        measured[case.label] = {"p50": _percentile(outside, 0.50),
                                "p99": _percentile(outside, 0.99),
                                "p50_without_botocore": _percentile(app_only, 0.50)}
    return measured


def report(measured: dict[str, dict]) -> str:
    rows = [[label, f"{m['p50']:.3f}", f"{m['p99']:.3f}", f"≤ {TARGET_P50_MS}",
             verdict(m["p50"] <= TARGET_P50_MS), f"{m['p50_without_botocore']:.3f}"]
            for label, m in measured.items()]
    headers = ["route", "p50 ms", "p99 ms", "target p50", "ok?",
               "p50 ms without botocore request building"]
    return render(headers, rows)
