"""Section 6b of `make bench`: what a million calls cost on demand, all services together, from
section 6's capacity model (DynamoDB) and AWS's list prices (us-east-1) for the rest.

A gateway call is one reserve+settle pair made with the gateway's key: two API requests and two
Lambda invocations. An admin call is the mix ADMIN_MIX of section 6's admin rows, on 2-member
teams. Lambda is billed by the millisecond: BILLED_MS per invocation is an assumption (the
warm p50 of section 3 plus a few ms per DynamoDB request in the region), written here so it can
be argued with. Writes that change configuration also put one audit record on the SQS FIFO
audit queue (batched by 10) through the audit publisher.
"""

from typing import Any

from bench.tables import render

PAIR_ROW = "reserve+settle pair, gateway key"
# What one million admin calls are made of: reads of a team and of list pages, and changes.
ADMIN_MIX = {"team/info": 0.4, "v2/team/list page": 0.2, "team/update": 0.2, "member_add": 0.2}
# Audit records a call writes: member_add's member is a new user, so a user and a membership.
AUDIT_RECORDS = {"team/update": 1, "member_add": 2}

API_PER_MILLION = 1.00  # HTTP API requests
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_GB_SECOND = 0.0000133334  # arm64
MEMORY_GB = 0.5  # template.yaml's MemorySize: 512
BILLED_MS = 25
LOG_KB_PER_INVOCATION = 0.4  # Lambda's START/END/REPORT lines; the functions log no request
LOGS_PER_GB = 0.50
XRAY_PER_MILLION_TRACES = 5.00
XRAY_SAMPLED = 0.05  # X-Ray's default rule beyond its first request each second
SQS_FIFO_PER_MILLION_REQUESTS = 0.50
AUDIT_BATCH = 10  # records per SendMessageBatch


def _per_invocation() -> dict[str, float]:
    """Dollars per million of one API request served by one Lambda invocation."""
    return {
        "API Gateway": API_PER_MILLION,
        "Lambda": LAMBDA_REQUESTS_PER_MILLION + 1e6 * MEMORY_GB * BILLED_MS / 1000
        * LAMBDA_GB_SECOND,
        "CloudWatch Logs": 1e6 * LOG_KB_PER_INVOCATION / 1024 / 1024 * LOGS_PER_GB,
        "X-Ray": XRAY_SAMPLED * XRAY_PER_MILLION_TRACES,
    }


def _dynamo(rows: list[dict[str, Any]], call: str) -> float:
    return next(r["dollars_per_million"] for r in rows
                if r["call"] == call and r["members"] == 2 and r["kind"] == "call")


def gateway(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Dollars per million gateway calls (reserve+settle pairs), by service."""
    parts = {service: 2 * dollars for service, dollars in _per_invocation().items()}
    return {"DynamoDB": _dynamo(rows, PAIR_ROW), **parts, "audit queue": 0.0}


def admin(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Dollars per million admin calls of ADMIN_MIX, by service."""
    records = sum(share * AUDIT_RECORDS.get(call, 0) for call, share in ADMIN_MIX.items())
    return {"DynamoDB": sum(share * _dynamo(rows, call) for call, share in ADMIN_MIX.items()),
            **_per_invocation(),
            # the publisher's invocations (batches of the table's stream) are a rounding error
            "audit queue": records / AUDIT_BATCH * SQS_FIFO_PER_MILLION_REQUESTS}


def measure(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {"gateway call (reserve+settle)": gateway(rows),
            "admin call (" + ", ".join(f"{int(share * 100)}% {call}"
                                       for call, share in ADMIN_MIX.items()) + ")": admin(rows)}


def report(costs: dict[str, dict[str, float]]) -> str:
    services = list(next(iter(costs.values())))
    lines = [[call, *(f"{parts[s]:.2f}" for s in services), f"{sum(parts.values()):.2f}"]
             for call, parts in costs.items()]
    return (render(["$ per million calls", *services, "total"], lines)
            + f"\n(us-east-1 on demand; Lambda arm64 {int(MEMORY_GB * 1024)} MB billed "
              f"{BILLED_MS} ms per invocation; X-Ray samples {XRAY_SAMPLED:.0%}; DynamoDB from "
              "the table above, 2-member teams)")
