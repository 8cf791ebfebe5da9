"""The layer's DynamoDB calls, counted and timed through botocore's event hooks.

`before-call` / `after-call` fire once per API call (around signing, sending, retries and
parsing); `before-send` fires once per HTTP attempt, so a difference between the two means
retries. `provide-client-params` is the first event of a call: from it to `before-call` botocore
validates and serializes the parameters and resolves the endpoint ("request building").
"""

import time
from collections import Counter

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                    "TransactWriteItems"})


class CallRecorder:
    """Counts calls per operation while `recording`; always sums the time spent inside calls
    (`inside_ns`) and building their requests (`building_ns`)."""

    def __init__(self) -> None:
        self.recording = False
        self.operations: Counter[str] = Counter()
        self.http_attempts = 0
        self.inside_ns = 0
        self.building_ns = 0
        self._call_started = 0
        self._build_started = 0

    def attach(self, client) -> None:
        events = client.meta.events
        events.register_first("provide-client-params.dynamodb.*", self._provide_params,
                              unique_id="bench-params")
        events.register("before-call.dynamodb.*", self._before_call, unique_id="bench-before")
        events.register("after-call.dynamodb.*", self._after_call, unique_id="bench-after")
        events.register("after-call-error.dynamodb.*", self._after_call,
                        unique_id="bench-after-error")
        events.register("before-send.dynamodb.*", self._before_send, unique_id="bench-send")

    def start(self) -> None:
        self.operations.clear()
        self.http_attempts = 0
        self.inside_ns = 0
        self.recording = True

    def stop(self) -> dict:
        self.recording = False
        ops = dict(sorted(self.operations.items()))
        reads = sum(n for op, n in ops.items() if op in READS)
        writes = sum(n for op, n in ops.items() if op in WRITES)
        return {"reads": reads, "writes": writes, "total": sum(ops.values()),
                "operations": ops, "http_attempts": self.http_attempts}

    def _provide_params(self, **_kwargs) -> None:
        self._build_started = time.perf_counter_ns()  # returns None: the params stay as given

    def _before_call(self, model, **_kwargs) -> None:
        if self.recording:
            self.operations[model.name] += 1
        self._call_started = time.perf_counter_ns()
        self.building_ns += self._call_started - self._build_started

    def _after_call(self, **_kwargs) -> None:
        self.inside_ns += time.perf_counter_ns() - self._call_started

    def _before_send(self, **_kwargs) -> None:
        if self.recording:
            self.http_attempts += 1
