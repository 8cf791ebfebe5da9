"""The test client: calls each route's own handler with the API Gateway v2 event it would
get in AWS, and a few conveniences that make tests read like the flows they check."""

import importlib
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

# One key for the whole session, whichever module imports it first.
MASTER_KEY = os.environ.setdefault("TEST_MASTER_KEY", "sk-master-" + secrets.token_urlsafe(24))


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


class Api:
    """Calls the route's own handler module with a real v2 event, as API Gateway would."""

    def __init__(self):
        from tests.support.template import load_template, routes

        self.routes = {(r.method, r.path): r for r in routes(load_template())}

    def call(self, method: str, path: str, *, key: str | None = MASTER_KEY, body: Any = None,
             query: Any = None, headers: dict | None = None, raw_body: Any = None,
             path_params: dict | None = None) -> Reply:
        """`path` is the route's path as the template has it; `path_params` fill in its
        `{name}` parts (URL-quoted in the raw path)."""
        from urllib.parse import quote

        from tests.support.apigw import http_event, lambda_context

        route = self.routes[(method, path)]
        all_headers = dict(headers or {})
        if key is not None:
            all_headers.setdefault("authorization", f"Bearer {key}")
        raw_path = path
        for name, value in (path_params or {}).items():
            raw_path = raw_path.replace(f"{{{name}}}", quote(str(value), safe=""))
        event = http_event(method, raw_path, headers=all_headers, query=query,
                           body=raw_body if raw_body is not None else body, route=path,
                           path_parameters=path_params)
        handler = getattr(importlib.import_module(route.module), route.handler)
        result = handler(event, lambda_context(route.function))
        text = result.get("body") or "null"
        headers = result.get("headers") or {}
        if headers.get("Content-Type", "application/json").startswith("application/json"):
            return Reply(result["statusCode"], json.loads(text), headers)
        return Reply(result["statusCode"], text, headers)  # the console's files

    def get(self, path: str, **kwargs) -> Reply:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs) -> Reply:
        return self.call("POST", path, body=body, **kwargs)

    # --- conveniences that make tests read like the flows they check ----------------------

    def ok(self, reply: Reply) -> Any:
        assert reply.status == 200, reply
        return reply.body

    def new_user(self, role: str = "internal_user", **fields) -> dict:
        body = {"user_id": f"user-{uuid.uuid4().hex[:10]}", "user_role": role} | fields
        return self.ok(self.post("/user/new", body))

    def new_team(self, key: str = MASTER_KEY, **fields) -> dict:
        return self.ok(self.post("/team/new", {"team_alias": f"team-{uuid.uuid4().hex[:6]}"}
                                 | fields, key=key))

    def new_key(self, key: str = MASTER_KEY, **fields) -> dict:
        return self.ok(self.post("/key/generate", fields, key=key))
