"""bench/results.json, written whole (through a temporary file) or not at all."""

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

PATH = Path(__file__).resolve().parent / "results.json"


def write(requests: dict, cold_start: dict, warm: dict, seconds: float,
          list_scaling: dict, budget_reset: dict, capacity: list,
          litellm_overhead: dict) -> Path:
    document = {
        "requests": requests,
        "capacity": capacity,
        "litellm_overhead": litellm_overhead,
        "list_scaling": list_scaling,
        "budget_reset": budget_reset,
        "cold_start_ratio": {name: round(m["ratio"], 3) for name, m in cold_start.items()},
        "cold_start_ms": {name: {"function": round(m["function_ms"], 1),
                                 "baseline": round(m["baseline_ms"], 1),
                                 "function_cpu": round(m["function_cpu_ms"], 1),
                                 "baseline_cpu": round(m["baseline_cpu_ms"], 1),
                                 "first_request_validators": round(m["first_request_ms"], 2)}
                          for name, m in cold_start.items()},
        "cold_start_cpu_ratio": {name: round(m["cpu_ratio"], 3)
                                 for name, m in cold_start.items()},
        "warm_p50_ms": {route: round(m["p50"], 4) for route, m in warm.items()},
        "warm_p99_ms": {route: round(m["p99"], 4) for route, m in warm.items()},
        "warm_p50_ms_without_botocore_request_building": {
            route: round(m["p50_without_botocore"], 4) for route, m in warm.items()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "bench_seconds": round(seconds, 1),
    }
    temporary = PATH.with_name(PATH.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    os.replace(temporary, PATH)
    return PATH
