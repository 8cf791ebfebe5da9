"""Shared fixtures: a moto server on loopback (the wire path boto3 uses against AWS), the
table built from template.yaml, and a client that calls route handlers with the API Gateway
HTTP API v2 events they receive in AWS."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.client import MASTER_KEY, Api

TABLE = "teamledger-test"
AUDIT_STREAM = "teamledger-audit-test"
AUDIT_QUEUE = "teamledger-audit-test.fifo"

# Powertools reads these when a module makes its Logger, Tracer or Metrics, which may be at
# collection, before any fixture runs. Metrics has a namespace then: with metrics disabled it
# never clears its set, and at 100 values of one metric it serializes it, which needs one.
os.environ.update({
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "teamledger", "POWERTOOLS_METRICS_NAMESPACE": "TeamLedger"})


def pytest_configure(config):
    """The functions run with their models compiled, as a built layer ships them (written
    fresh for the session: teamledger.http.compiled), unless a suite declares them with
    pydantic (tests/unit: the models as declared, and the API's description)."""
    from teamledger.http import compiled

    if os.environ.get(compiled.MODE) == "declared":
        return
    root = Path(__file__).resolve().parents[1]
    # The layer's venv: the LiteLLM client's (make compat) runs only the dev server's clients.
    layer_python = root / ".venv" / "bin" / "python"
    python = str(layer_python) if layer_python.exists() else sys.executable
    subprocess.run([python, "-m", "teamledger.http.compiled"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(["shared", "."])})
    os.environ[compiled.MODE] = "compiled"


@pytest.fixture(scope="session")
def moto_endpoint():
    from tests.support import moto_server

    server, endpoint = moto_server.start()
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": TABLE, "MASTER_KEY": MASTER_KEY, "AUDIT_STREAM_NAME": AUDIT_STREAM,
    })
    import boto3

    from tests.support.template import create_fifo_queue, create_table

    create_table(boto3.client("dynamodb"), TABLE)
    # The default carrier (AUDIT_CARRIER unset: sqs-fifo), as template.yaml makes it
    os.environ["AUDIT_QUEUE_URL"] = create_fifo_queue(boto3.client("sqs"), AUDIT_QUEUE)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def api(moto_endpoint) -> Api:
    return Api()


@pytest.fixture
def fresh_table(api, monkeypatch) -> str:
    """A table of the test's own (from template.yaml), so totals, orders and whole-table scans
    are exact; TABLE_NAME points at it for the test's duration."""
    import uuid

    import boto3
    from teamledger.config import settings

    from tests.support.template import create_table

    name = f"fresh-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb"), name)
    monkeypatch.setenv("TABLE_NAME", name)
    settings.cache_clear()
    yield name
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture(scope="session")
def audit_queue(moto_endpoint):
    """The audit queue (AUDIT_QUEUE_URL, the default carrier) read by one consumer for the whole
    session: its `read_all()` is every message published so far, each taken once."""
    import boto3

    from tests.support.audittail import QueueTail

    return QueueTail(boto3.client("sqs"), os.environ["AUDIT_QUEUE_URL"])


@pytest.fixture(scope="session")
def audit_stream(moto_endpoint) -> str:
    """The Kinesis audit stream (AUDIT_STREAM_NAME), created from template.yaml's resource."""
    import boto3

    from tests.support.template import create_stream

    create_stream(boto3.client("kinesis"), AUDIT_STREAM)
    return AUDIT_STREAM


@pytest.fixture
def kinesis_carrier(audit_stream, monkeypatch) -> str:
    """The publisher on the Kinesis option (AUDIT_CARRIER=kinesis) for one test; settings are
    read once per cold start, so their cache is cleared on the way in and out."""
    from teamledger.config import settings

    monkeypatch.setenv("AUDIT_CARRIER", "kinesis")
    settings.cache_clear()
    yield audit_stream
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def available_teams(monkeypatch):
    """Sets AVAILABLE_TEAMS (the teams anyone may join) for one test; settings are read once
    per cold start, so their cache is cleared on the way in and out."""
    from teamledger.config import settings

    def make_available(*team_ids: str) -> None:
        monkeypatch.setenv("AVAILABLE_TEAMS", ",".join(team_ids))
        settings.cache_clear()

    yield make_available
    monkeypatch.delenv("AVAILABLE_TEAMS", raising=False)
    settings.cache_clear()
