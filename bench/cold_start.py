"""Section 2: import + init of each function versus `import boto3` + a DynamoDB client, each in
a fresh interpreter with .pyc caches, in the environment Lambda gives (tracing active), with
the layer as `make build` ships it (botocore's data cache and the compiled models written
first).

Each run reports its wall time and its CPU time. The verdict is on wall time, as Lambda's cold
start is; CPU time is shown beside it because it is what a busy machine disturbs least (an
import is CPU work; on a shared machine the wall time also holds other processes' turns)."""

import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from bench.tables import render, verdict

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 7
FUNCTIONS_PER_BASELINE = 2  # a baseline run right before every pair of function runs
TARGET_RATIO = 1.2
# The functions that never call DynamoDB (ui: the console's files)
TABLE_FREE = frozenset({"health_liveliness", "ui"})
PROFILED = "team_new"

_TIMED = ("import time\nstarted, cpu = time.perf_counter_ns(), time.process_time_ns()\n{body}\n"
          "print(time.perf_counter_ns() - started, time.process_time_ns() - cpu)\n")
# After the init, not in it: what the first request adds, building its route's validators.
_FIRST_REQUEST = ("\nimport sys\nstarted = time.perf_counter_ns()\n"
                  "for route in getattr(getattr(sys.modules['functions.{name}.app'], 'app', None), "
                  "'routes', []):\n    route.prepare()\n"
                  "print(time.perf_counter_ns() - started)\n")
BASELINE = _TIMED.format(body="import boto3\nboto3.client('dynamodb')")


def function_names() -> list[str]:
    return sorted(p.parent.name for p in (REPO_ROOT / "functions").glob("*/app.py"))


def _init(name: str) -> str:
    """Module import (= import + init); the layer creates its client lazily, so add that."""
    code = f"import functions.{name}.app"
    if name not in TABLE_FREE:
        code += "\nimport teamledger.store.client\nteamledger.store.client.client()"
    return code


def environment(function: str = "bench") -> dict[str, str]:
    """The bench's environment as Lambda would have it: tracing on (LAMBDA_TASK_ROOT is how
    Powertools' Tracer knows it runs in Lambda; without it the Tracer skips X-Ray patching)."""
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "POWERTOOLS_TRACE_DISABLED"):
        env.pop(name, None)
    env.update({"PYTHONPATH": os.pathsep.join(["shared", "."]),
                "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR", "LAMBDA_TASK_ROOT": str(REPO_ROOT),
                "AWS_LAMBDA_FUNCTION_NAME": function})
    return env


def _run(code: str, *flags: str, function: str = "bench") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-c", code], env=environment(function),
                          cwd=REPO_ROOT, capture_output=True, text=True, check=True)


def _timed_ms(code: str, function: str = "bench") -> tuple[float, float]:
    """(wall ms, CPU ms) of `code` in a fresh interpreter."""
    wall, cpu = _run(code, function=function).stdout.strip().splitlines()[-1].split()
    return int(wall) / 1e6, int(cpu) / 1e6


def _function_ms(name: str) -> tuple[float, float, float]:
    """(wall ms, CPU ms) of a function's import + init, and (wall ms) of its routes'
    validators built after it, as its first request builds them."""
    code = _TIMED.format(body=_init(name)) + _FIRST_REQUEST.format(name=name)
    init, first = _run(code, function=name).stdout.strip().splitlines()[-2:]
    wall, cpu = init.split()
    return int(wall) / 1e6, int(cpu) / 1e6, int(first) / 1e6


def _schedule(names: list[str]) -> list[tuple[str, ...]]:
    """Rounds of (baseline, f, f): each round starts one function later, so that no function
    always runs first after its baseline."""
    groups = []
    for round_no in range(ROUNDS):
        shift = round_no % len(names)
        order = names[shift:] + names[:shift]
        groups += [tuple(order[i:i + FUNCTIONS_PER_BASELINE])
                   for i in range(0, len(order), FUNCTIONS_PER_BASELINE)]
    return groups


def build_layer() -> None:
    """What `make build` writes into the layer before `sam build`: botocore's data cache and
    the compiled models (teamledger.http.compiled)."""
    _run("from teamledger.store import botocore_data\nbotocore_data.write()")
    _run("from teamledger.http import compiled\ncompiled.main()")


def run() -> dict[str, dict]:
    names = function_names()
    build_layer()
    _run(_init_all(names))  # warm-up: builds every .pyc and warms the file cache
    _timed_ms(BASELINE)
    samples: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    baselines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for group in _schedule(names):
        baseline = _timed_ms(BASELINE)
        for name in group:
            samples[name].append(_function_ms(name))
            baselines[name].append(baseline)
    measured = {}
    for name in names:
        function_ms = statistics.median(wall for wall, _, _ in samples[name])
        baseline_ms = statistics.median(wall for wall, _ in baselines[name])
        function_cpu = statistics.median(cpu for _, cpu, _ in samples[name])
        first_request = statistics.median(first for _, _, first in samples[name])
        baseline_cpu = statistics.median(cpu for _, cpu in baselines[name])
        measured[name] = {"function_ms": function_ms, "baseline_ms": baseline_ms,
                          "ratio": function_ms / baseline_ms, "function_cpu_ms": function_cpu,
                          "baseline_cpu_ms": baseline_cpu, "cpu_ratio": function_cpu / baseline_cpu,
                          "first_request_ms": first_request}
    return measured


def _init_all(names: list[str]) -> str:
    return "\n".join(_init(name) for name in names)


def report(measured: dict[str, dict]) -> str:
    rows = [[name, f"{m['function_ms']:.1f}", f"{m['baseline_ms']:.1f}", f"{m['ratio']:.2f}",
             f"{m['function_cpu_ms']:.1f}", f"{m['baseline_cpu_ms']:.1f}", f"{m['cpu_ratio']:.2f}",
             f"≤ {TARGET_RATIO}", verdict(m["ratio"] <= TARGET_RATIO),
             f"{m['first_request_ms']:.1f}"]
            for name, m in measured.items()]
    headers = ["function", "import+init ms", "baseline ms", "ratio", "CPU ms", "baseline CPU ms",
               "CPU ratio", "target", "ok?", "+ 1st request's validators ms"]
    return render(headers, rows)


# --- where the time goes -----------------------------------------------------------------

def import_times(name: str = PROFILED) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) of every import, from `python -X importtime`."""
    stderr = _run(_init(name), "-X", "importtime", function=name).stderr
    found = []
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        found.append((parts[2].strip(), int(parts[0]), int(parts[1])))
    return found


def import_report(imports: list[tuple[str, int, int]], top: int = 10) -> str:
    by_cumulative = sorted(imports, key=lambda entry: entry[2], reverse=True)[:top]
    rows = [[module, f"{cumulative / 1000:.1f}", f"{own / 1000:.1f}"]
            for module, own, cumulative in by_cumulative]
    return render(["module", "cumulative ms", "self ms"], rows)


def package_report(imports: list[tuple[str, int, int]], top: int = 10) -> str:
    """Self time summed per top-level package: who pays, whatever imported it."""
    totals: dict[str, int] = defaultdict(int)
    for module, own, _ in imports:
        totals[module.split(".")[0]] += own
    ranked = sorted(totals.items(), key=lambda entry: entry[1], reverse=True)[:top]
    overall = sum(totals.values())
    rows = [[package, f"{own / 1000:.1f}", f"{100 * own / overall:.0f}%"]
            for package, own in ranked]
    return render(["top-level package", "self ms (sum)", "share"], rows)
