"""`make bench` (run from the repo root with PYTHONPATH=shared:.).

Measured in this order, printed in section order: requests (all rows but the big team's),
warm overhead (on the small table), the big team delete, then cold starts (moto stopped).
"""

import os
import time

from bench import (
    capacity,
    capacity_model,
    cold_start,
    costs,
    list_scaling,
    litellm_overhead,
    request_counts,
    reset_scaling,
    results,
    warm_overhead,
)
from bench.dynamo_calls import CallRecorder
from bench.local_dynamo import LocalDynamo
from bench.tables import section


def _against_moto() -> tuple[request_counts.Scenario, dict]:
    dynamo = LocalDynamo()
    dynamo.start()  # sets the environment the layer reads: import it only after this
    try:
        from teamledger.store.client import client

        from bench.handlers import Handlers

        recorder = CallRecorder()
        recorder.attach(client())
        handlers = Handlers()
        scenario = request_counts.run(handlers, recorder, dynamo.master_key)
        warm = warm_overhead.run(handlers, recorder, scenario.fixture)
        request_counts.run_big_team_delete(scenario)
        return scenario, warm
    finally:
        dynamo.stop()


def _list_scaling() -> dict:
    dynamo = LocalDynamo()
    dynamo.start()
    try:
        from teamledger.store.client import client

        from bench.handlers import Handlers

        recorder = CallRecorder()
        recorder.attach(client())
        scaling = list_scaling.run(Handlers(), recorder, dynamo.master_key)
        scaling["reset"] = reset_scaling.run(scaling["levels"], recorder)
        return scaling
    finally:
        dynamo.stop()


def _cold_start() -> dict:
    cold = cold_start.run()
    print(cold_start.report(cold))
    print(f"(baseline: the `import boto3; boto3.client(\"dynamodb\")` run made right before "
          f"each function run, one per {cold_start.FUNCTIONS_PER_BASELINE} function runs; "
          "LAMBDA_TASK_ROOT set so the Tracer patches as in Lambda)", flush=True)
    imports = cold_start.import_times()
    section(f"2b. Where {cold_start.PROFILED}'s import time goes (python -X importtime): "
            "top 10 modules by cumulative time, then self time per top-level package")
    print(cold_start.import_report(imports))
    print()
    print(cold_start.package_report(imports), flush=True)
    return cold


def main() -> None:
    started = time.perf_counter()
    # The layer as built (teamledger.http.compiled): the handlers here validate as deployed.
    cold_start.build_layer()
    os.environ["TEAMLEDGER_MODELS"] = "compiled"
    section("1. DynamoDB requests per route, auth included (targets: reads ≤ 2, "
            "writes ≤ 3; list pages ≤ 3)")
    scenario, warm = _against_moto()
    print(request_counts.report(scenario), flush=True)
    moto_seconds = time.perf_counter() - started

    section(f"2. Cold start per function: import + init vs `import boto3` + a DynamoDB client, "
            f"median of {cold_start.ROUNDS}, tracing active")
    cold = _cold_start()
    cold_seconds = time.perf_counter() - started - moto_seconds

    section(f"3. Warm overhead per request outside DynamoDB, {warm_overhead.REQUESTS} "
            "requests per route (user key; health has no auth)")
    print(warm_overhead.report(warm), flush=True)

    section(f"4. List pages at {', '.join(f'{n:,}' for n in list_scaling.LEVELS)} teams, side "
            f"by side (median of {list_scaling.ROUNDS} round-robin rounds; cases that read "
            f"every team: {list_scaling.FEW_ROUNDS}); requests include auth")
    scaling = _list_scaling()
    print(list_scaling.report(scaling), flush=True)
    print(f"(tables bulk-loaded in {scaling['seed_seconds']:.0f} s, not measured)")

    section(f"5. Budget reset on section 4's tables, {list_scaling.DUE:,} teams due (all of a "
            "smaller table): items read per item reset, one run each")
    print(reset_scaling.report(scaling["reset"]), flush=True)

    section(capacity.TITLE)
    capacity_rows = capacity.measure()
    print(capacity_model.report(capacity_rows), flush=True)
    section("6b. A million calls, all services, on demand: DynamoDB from section 6, the rest "
            "at list prices")
    print(costs.report(costs.measure(capacity_rows)), flush=True)

    section(litellm_overhead.TITLE)
    litellm = litellm_overhead.measure()
    print(litellm_overhead.report(litellm), flush=True)

    seconds = time.perf_counter() - started
    path = results.write(request_counts.results(scenario), cold, warm, seconds,
                         list_scaling.results(scaling), reset_scaling.results(scaling["reset"]),
                         capacity_model.as_json(capacity_rows),
                         litellm_overhead.results(litellm))
    print(f"\nwrote {path.relative_to(path.parents[1])} in {seconds:.0f} s "
          f"(moto sections {moto_seconds:.0f} s, cold starts {cold_seconds:.0f} s)")


if __name__ == "__main__":
    main()
