"""Calls a route's own `lambda_handler` with the API Gateway v2 event it gets in AWS."""

import importlib
import json
from typing import Any


class RouteFailed(AssertionError):
    """A route answered something other than 200: the bench's numbers would be meaningless."""


class Handlers:
    def __init__(self) -> None:
        from tests.support.template import load_template, routes

        self._routes = {(r.method, r.path): r for r in routes(load_template())}

    def prepare(self, method: str, path: str, *, key: str | None, body: Any = None,
                query: Any = None) -> tuple:
        """(handler, event, context) for one invocation; build it outside any timing."""
        from teamledger.http.app import metrics

        from tests.support.apigw import http_event, lambda_context

        # With POWERTOOLS_METRICS_DISABLED, Powertools never clears its metric set, and prints
        # it (EMF JSON) at the 100th value: forget it before each invocation (outside timing).
        metrics.clear_metrics()
        route = self._routes[(method, path)]
        handler = getattr(importlib.import_module(route.module), route.handler)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        event = http_event(method, path, headers=headers, query=query, body=body)
        return handler, event, lambda_context(route.function)

    def call(self, method: str, path: str, *, key: str | None, body: Any = None,
             query: Any = None) -> Any:
        handler, event, context = self.prepare(method, path, key=key, body=body, query=query)
        return checked(method, path, handler(event, context))


def checked(method: str, path: str, result: dict) -> Any:
    """The parsed body of a 200 answer; anything else stops the bench (keys never printed)."""
    body = json.loads(result.get("body") or "null")
    if result.get("statusCode") != 200:
        raise RouteFailed(f"{method} {path} answered {result.get('statusCode')}: {body}")
    return body
