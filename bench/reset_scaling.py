"""Section 5: the budget reset at 100, 10,000 and 100,000 teams with up to 1,000 due, on the
tables of section 4 (run after it: the resets write). Items read per item reset (target ≤ 1.1,
the budget: ≤ 1.1) and the run's time; that neither grows with the table is the point."""

import time

from bench.dynamo_calls import CallRecorder
from bench.list_scaling import Level
from bench.tables import render, verdict

TARGET = 1.1


def run(levels: list[Level], recorder: CallRecorder) -> dict:
    from teamledger.domain import budget_reset

    measured = {}
    for level in levels:
        level.use()
        recorder.start()
        began = time.perf_counter()
        report = budget_reset.run()
        seconds = time.perf_counter() - began
        counts = recorder.stop()
        measured[level.teams] = {"report": report.as_dict(), "seconds": seconds,
                                 "operations": counts["operations"]}
    return measured


def report(measured: dict) -> str:
    rows = []
    for teams, m in measured.items():
        r = m["report"]
        per_item = r["read"] / r["reset"] if r["reset"] else float("inf")
        ops = ", ".join(f"{op} {n}" for op, n in m["operations"].items())
        rows.append([f"{teams:,}", r["reset"], r["read"], f"{per_item:.2f}", f"≤ {TARGET}",
                     verdict(per_item <= TARGET and not r["errors"]), f"{m['seconds']:.1f}",
                     f"{m['seconds'] / max(r['reset'], 1) * 1000:.1f}", ops])
    headers = ["teams", "reset", "items read", "read per reset", "target", "ok?", "run s",
               "ms per reset", "requests"]
    return render(headers, rows)


def results(measured: dict) -> dict:
    return {str(teams): {"reset": m["report"]["reset"], "items_read": m["report"]["read"],
                         "seconds": round(m["seconds"], 2), "requests": m["operations"]}
            for teams, m in measured.items()}
