"""`make dev` keeps its data in DATA_DIR across restarts, a kill -9 included, refuses data of
another table layout, and keeps its console to the banner and one line per request."""

import json
import re
import secrets
import signal
import subprocess
import time
import uuid

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from tests.support import devdata, devstate
from tests.support.audittail import body, dev_tail
from tests.support.devhttp import call
from tests.support.devprocess import (
    DEV_SERVER_COMMAND,
    dev_server_environment,
    dev_server_process,
    free_port,
)
from tests.support.devserver import InvocationLock
from tests.support.template import REPO_ROOT

# Strong (a weak one is accepted by make dev, with a warning the console tests would see).
MASTER_KEY = "sk-" + secrets.token_urlsafe(32)
PUBLISH_TIMEOUT_S = 20
# `2026-12-01 15:06:07,073 POST /team/new 200 436.5ms`
ACCESS_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ /\S* \d{3} \d+\.\dms")


def test_changes_acknowledged_before_a_kill_9_are_there_after_the_restart(tmp_path):
    # Given a dev server keeping its data in a DATA_DIR of this test's own
    data_dir = tmp_path / "data"
    team_id = f"e2e-kept-{uuid.uuid4().hex[:8]}"
    (tmp_path / "first").mkdir()
    with dev_server_process(tmp_path / "first", data_dir=data_dir,
                            master_key=MASTER_KEY) as server:
        # and a team created, refused a second time (nothing to keep), then renamed
        statuses = [
            call(server, "POST", "/team/new", {"team_id": team_id, "team_alias": "kept"})[0],
            call(server, "POST", "/team/new", {"team_id": team_id})[0],
            call(server, "POST", "/team/update",
                 {"team_id": team_id, "team_alias": "kept-renamed"})[0],
        ]
        assert statuses == [200, 400, 200]

        # When the server is killed with SIGKILL right after the last answer
        server.kill()

    # and started again on the same DATA_DIR
    (tmp_path / "second").mkdir()
    with dev_server_process(tmp_path / "second", data_dir=data_dir,
                            master_key=MASTER_KEY) as server:
        status, info = call(server, "GET", f"/team/info?team_id={team_id}")
        _, audit = call(server, "GET", f"/audit?object_id={team_id}")
        log = server.log()

    # Then the team is there as it was last answered
    assert status == 200
    assert info["team_info"]["team_alias"] == "kept-renamed"
    # and its audit records too, each once
    assert [record["action"] for record in audit["data"]] == ["updated", "created"]
    # and the banner tells what was replayed, every write succeeding again
    assert f"{data_dir}, written through (" in log
    assert "WARNING" not in log


def test_a_data_dir_of_another_table_layout_stops_the_start_and_names_make_dev_reset(tmp_path):
    # Given a DATA_DIR holding data written for a table layout that is not template.yaml's
    data_dir = tmp_path / "data"
    old_layout = {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    devdata.Journal.open(data_dir, old_layout).close()
    journal = data_dir / devdata.JOURNAL_FILE
    journal.write_text('{"method": "POST", "path": "/", "query": "", "headers": []}\n')
    kept = journal.read_bytes()

    # When the dev server starts on it
    started = time.monotonic()
    result = subprocess.run(
        DEV_SERVER_COMMAND, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env=dev_server_environment(free_port(), MASTER_KEY, data_dir))

    # Then it exits at once with an error that names the way out
    assert result.returncode != 0
    assert "another table layout" in result.stderr
    assert "make dev-reset" in result.stderr
    assert "ready" not in result.stdout
    assert time.monotonic() - started < 30
    # and leaves the data as it was
    assert journal.read_bytes() == kept


def test_the_console_holds_the_banner_then_one_line_per_request(tmp_path):
    # Given a dev server as `make dev` runs it: keeping its data, Powertools left as it is
    with dev_server_process(tmp_path, data_dir=tmp_path / "data",
                            master_key=MASTER_KEY) as server:
        team_id = f"e2e-quiet-{uuid.uuid4().hex[:8]}"

        # When a client sends five requests, the first cold-starting its functions
        statuses = [
            call(server, "GET", "/health/liveliness")[0],
            call(server, "POST", "/team/new", {"team_id": team_id})[0],
            call(server, "GET", f"/team/info?team_id={team_id}")[0],
            call(server, "GET", f"/audit?object_id={team_id}")[0],
            call(server, "GET", "/no/such/route")[0],
        ]
        # and the audit publisher has put the team's record on the stream (its batch done)
        wait_until_published(int(server.url.rsplit(":", 1)[1]), team_id)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0
        log = server.log()

    # Then after the banner and "ready" come exactly five access lines, nothing else
    assert statuses == [200, 200, 200, 200, 404]
    after_ready = log.splitlines()[log.splitlines().index("ready") + 1:]
    assert len(after_ready) == 5, log
    assert all(ACCESS_LINE.fullmatch(line) for line in after_ready), log


def test_no_metric_piles_up_to_the_hundred_values_powertools_prints_at(monkeypatch, capsys):
    # Given Powertools metrics off, as the dev server has them, which Powertools then never
    # clears, and prints as EMF JSON once a metric holds 100 values
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TeamLedger")
    metrics = Metrics()
    invocation_lock = InvocationLock()

    # When 150 invocations under the dev server's invocation lock add one value each
    for _ in range(150):
        with invocation_lock:
            metrics.add_metric(name="AuditRecordsPublished", unit=MetricUnit.Count, value=1)

    # Then nothing was printed
    assert capsys.readouterr().out == ""


def wait_until_published(port: int, object_id: str) -> None:
    state = devstate.read(port)
    assert state is not None
    # The dev server's region: this environment's, else its default.
    region = boto3.Session().region_name or devstate.LOCAL_AWS_DEFAULTS["AWS_DEFAULT_REGION"]
    tail = dev_tail(state, lambda service: boto3.client(
        service, endpoint_url=state.endpoint_url, region_name=region,
        aws_access_key_id="testing", aws_secret_access_key="testing"))
    published: list[dict] = []
    deadline = time.monotonic() + PUBLISH_TIMEOUT_S
    while time.monotonic() < deadline:
        published += tail.poll()
        if any(json.loads(body(record))["object_id"] == object_id for record in published):
            return
        time.sleep(0.2)
    raise AssertionError(f"the audit record of {object_id} was not published")
