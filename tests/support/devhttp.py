"""Real HTTP against a running dev server (`make dev`, or the e2e tests' own): a JSON body in,
the status and the JSON answer out, with the server's master key unless another key is given.

`server` is anything with `url` and `master_key` (tests/support/devprocess.DevServerProcess).
"""

import json
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_S = 30


def send(server, method: str, path: str, body: Any = None, *, key: str | None = None,
         headers: dict | None = None) -> tuple[int, Any, dict[str, str]]:
    """One request; (status, parsed JSON answer or None, headers with lowercase names).
    Error statuses are answers like any other, never exceptions."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method, headers={
        "content-type": "application/json",
        "authorization": f"Bearer {key or server.master_key}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            status, answer, raw_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, answer, raw_headers = error.code, error.read(), error.headers
    return (status, json.loads(answer) if answer else None,
            {name.lower(): value for name, value in raw_headers.items()})


def call(server, method: str, path: str, body: Any = None, *, key: str | None = None,
         headers: dict | None = None) -> tuple[int, Any]:
    """One request; (status, parsed JSON answer)."""
    status, answer, _ = send(server, method, path, body, key=key, headers=headers)
    return status, answer
