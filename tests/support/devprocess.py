"""`make dev`'s server as a process of its own, for tests that talk real HTTP to it."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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
        # SIGTERM first: the server stops cleanly and removes its .devserver state file.
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
