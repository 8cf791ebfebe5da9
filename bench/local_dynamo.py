"""The moto server (bench/moto_process.py) with the table of template.yaml, and the environment
the handlers read (the same as tests/conftest.py sets)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

TABLE = "teamledger-bench"
REPO_ROOT = Path(__file__).resolve().parents[1]


class LocalDynamo:
    """Starts moto, sets os.environ for the layer, creates the table; `stop()` ends moto."""

    def __init__(self) -> None:
        self.master_key = "sk-master-" + secrets.token_urlsafe(24)
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.moto_process"], cwd=REPO_ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        endpoint = self._process.stdout.readline().strip()
        if not endpoint.startswith("http://"):
            self.stop()
            raise RuntimeError("the moto server did not start")
        os.environ.update({
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "TABLE_NAME": TABLE, "MASTER_KEY": self.master_key,
            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "teamledger", "POWERTOOLS_METRICS_NAMESPACE": "TeamLedger",
        })
        import boto3

        from tests.support.template import create_table

        create_table(boto3.client("dynamodb"), TABLE)
        _forget_layer_caches()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def _forget_layer_caches() -> None:
    """The layer keeps its settings, client and master key per process, as Lambda keeps them
    per execution environment: a later section's moto must not meet an earlier one's."""
    from teamledger.config import settings
    from teamledger.http import auth
    from teamledger.store.client import client

    settings.cache_clear()
    client.cache_clear()
    auth._master_token_from_environment.cache_clear()


def write_puts(tx) -> None:
    """Bulk-load the items a store put into `tx` (already in wire form) with BatchWriteItem,
    25 at a time: a setup faster than committing, never measured. Other writes are dropped."""
    from teamledger.store.client import client, table_name

    puts = [entry["Put"]["Item"] for entry in tx.items if "Put" in entry]
    for start in range(0, len(puts), 25):
        pending = {table_name(): [{"PutRequest": {"Item": item}}
                                  for item in puts[start:start + 25]]}
        while pending:
            pending = client().batch_write_item(RequestItems=pending).get("UnprocessedItems")
