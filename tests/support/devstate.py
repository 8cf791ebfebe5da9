"""Where a running `make dev` keeps its AWS endpoint, so that tools run beside it with the same
PORT (`make audit-tail`) find the moto it started on a random port.

One JSON file per port, `.devserver/<port>.json` (git-ignored), written once the server is up
and removed when it stops; a file whose process is gone is stale and ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.support.template import REPO_ROOT

STATE_DIR = REPO_ROOT / ".devserver"
DEFAULT_PORT = 3000
DEFAULT_AUDIT_STREAM_NAME = "teamledger-audit"
DEFAULT_AUDIT_QUEUE_NAME = "teamledger-audit.fifo"
DEFAULT_AUDIT_CARRIER = "sqs-fifo"  # template.yaml's AuditCarrier default; or "kinesis"
# What a local endpoint needs and a machine may not have set.
LOCAL_AWS_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class DevState:
    port: int
    pid: int
    endpoint_url: str
    table_name: str
    audit_stream_name: str
    # What the audit publisher sends to (AUDIT_CARRIER), and the queue's URL on that carrier
    audit_carrier: str = DEFAULT_AUDIT_CARRIER
    audit_queue_url: str = ""


def state_path(port: int) -> Path:
    return STATE_DIR / f"{port}.json"


def write(state: DevState) -> None:
    STATE_DIR.mkdir(exist_ok=True)
    for stale in STATE_DIR.glob("*.json"):
        if _read_file(stale) is None:
            stale.unlink(missing_ok=True)
    temporary = state_path(state.port).with_suffix(f".{state.pid}.tmp")
    temporary.write_text(json.dumps(asdict(state)))
    temporary.replace(state_path(state.port))


def remove(port: int, pid: int) -> None:
    """Remove the port's file if this process wrote it."""
    state = _read_file(state_path(port))
    if state is not None and state.pid == pid:
        state_path(port).unlink(missing_ok=True)


def read(port: int) -> DevState | None:
    """The state of the dev server on `port`, or None if none is running."""
    return _read_file(state_path(port))


def _read_file(path: Path) -> DevState | None:
    try:
        state = DevState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NoDevServer(RuntimeError):
    """No `make dev` runs on the port and AWS_ENDPOINT_URL is not set."""


def use_dev_endpoint() -> tuple[str, str]:
    """Point boto3 at the endpoint `make dev` uses, as its own environment would: the
    AWS_ENDPOINT_URL set, else the one the dev server on PORT recorded. Returns (endpoint,
    audit stream name)."""
    port = int(os.environ.get("PORT") or DEFAULT_PORT)
    state = read(port)
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or (state.endpoint_url if state else None)
    if not endpoint:
        raise NoDevServer(f"no `make dev` is running on port {port} ({state_path(port)} is "
                          "missing); start it, or set PORT or AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    for name, value in LOCAL_AWS_DEFAULTS.items():
        os.environ.setdefault(name, value)
    stream = os.environ.get("AUDIT_STREAM_NAME") or (
        state.audit_stream_name if state else DEFAULT_AUDIT_STREAM_NAME)
    return endpoint, stream


def audit_carrier(stream_name: str) -> tuple[str, str]:
    """What the dev server on PORT publishes audit records to, after use_dev_endpoint:
    ("kinesis", the stream's name) or ("sqs-fifo", the queue's URL); AUDIT_CARRIER and
    AUDIT_QUEUE_URL override what it recorded, as for the server itself."""
    state = read(int(os.environ.get("PORT") or DEFAULT_PORT))
    carrier = os.environ.get("AUDIT_CARRIER") or (
        state.audit_carrier if state else DEFAULT_AUDIT_CARRIER)
    if carrier == "kinesis":
        return carrier, stream_name
    url = os.environ.get("AUDIT_QUEUE_URL") or (state.audit_queue_url if state else "")
    if not url:  # an endpoint of one's own: the queue under its default name
        import boto3

        url = boto3.client("sqs").get_queue_url(QueueName=DEFAULT_AUDIT_QUEUE_NAME)["QueueUrl"]
    return carrier, str(url)
