"""`make dev`'s server as a user runs it: a process that answers HTTP and stops cleanly."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.template import REPO_ROOT

STARTUP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dev server exited with {process.returncode}:\n{log_path.read_text()}")
        if accepts_connections(port) and "ready" in log_path.read_text().splitlines():
            return
        time.sleep(0.1)
    pytest.fail(f"dev server was not ready on {port}:\n{log_path.read_text()}")


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def get(url: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@dataclass
class DevServerProcess:
    url: str
    process: subprocess.Popen
    log_path: Path
    master_key: str

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def dev_server_process(log_dir: Path) -> Iterator[DevServerProcess]:
    """`python -m tests.support.devserver` on a free port, with a moto of its own."""
    port = free_port()
    master_key = "sk-" + secrets.token_urlsafe(32)
    env = {**os.environ, "PORT": str(port), "MASTER_KEY": master_key}
    env.pop("AWS_ENDPOINT_URL", None)
    log_path = log_dir / "devserver.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.devserver"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(port, process, log_path)
        yield DevServerProcess(f"http://127.0.0.1:{port}", process, log_path, master_key)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    """Given one running dev server shared by the tests that do not stop it."""
    with dev_server_process(tmp_path_factory.mktemp("devserver")) as server:
        yield server


@pytest.fixture
def own_dev_server(tmp_path):
    """Given a dev server of this test's own, which the test may stop."""
    with dev_server_process(tmp_path) as server:
        yield server


def test_liveliness_answers_200(dev_server):
    status, _, _ = get(dev_server.url + "/health/liveliness")

    assert status == 200


def test_unknown_route_is_api_gateways_404(dev_server):
    status, headers, body = get(dev_server.url + "/no/such/route")

    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Not Found"}


def test_known_path_with_another_method_is_404_like_api_gateway(dev_server):
    status, _, body = get(dev_server.url + "/health/liveliness", method="DELETE")

    assert status == 404
    assert json.loads(body) == {"message": "Not Found"}


def test_fifty_parallel_requests_all_succeed(dev_server):
    url = dev_server.url + "/health/liveliness"

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: get(url)[0], range(100)))

    assert statuses == [200] * 100


def test_startup_prints_the_url_the_master_key_and_ready(dev_server):
    log = dev_server.log()

    assert dev_server.url in log
    assert dev_server.master_key in log
    assert "ready" in log.splitlines()


def test_the_log_holds_the_request_but_never_the_authorization_header_or_query(own_dev_server):
    secret = "sk-" + secrets.token_urlsafe(16)
    get(
        own_dev_server.url + f"/health/liveliness?key={secret}",
        headers={"Authorization": f"Bearer {secret}"},
    )
    own_dev_server.process.send_signal(signal.SIGTERM)
    own_dev_server.process.wait(timeout=10)

    log = own_dev_server.log()
    assert "GET /health/liveliness 200" in log
    assert secret not in log


def test_sigterm_stops_it_with_exit_code_0(own_dev_server):
    own_dev_server.process.send_signal(signal.SIGTERM)

    assert own_dev_server.process.wait(timeout=10) == 0


def test_sigint_stops_it_with_exit_code_0(own_dev_server):
    own_dev_server.process.send_signal(signal.SIGINT)

    assert own_dev_server.process.wait(timeout=10) == 0
