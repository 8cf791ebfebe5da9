"""`make dev`'s server as a process of its own, for tests that talk real HTTP to it.

It keeps no data (DATA_DIR empty) unless the caller gives it a data_dir: a test's server must
never read or write the user's `.devserver/data`, and `make load`/`make fuzz` start fresh. Its
handlers run in WORKERS processes (the environment's, else the dev server's default, 4) unless
the caller says how many, so the e2e tests, `make load` and `make fuzz` race for real.
"""

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


def stop(process: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM, and SIGKILL if it has not ended after `grace_s`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class DevServerProcess:
    url: str
    process: subprocess.Popen
    log_path: Path
    master_key: str

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL (`kill -9`): no cleanup at all, as in a crash or an OOM kill."""
        self.process.kill()
        self.process.wait(timeout=10)


DEV_SERVER_COMMAND = [sys.executable, "-m", "tests.support.devserver"]


def dev_server_environment(port: int, master_key: str, data_dir: Path | None,
                           workers: int | None = None) -> dict[str, str]:
    """The environment of a dev server process on `port` with a moto of its own, keeping its
    data in `data_dir` (None: nowhere), its handlers in `workers` processes (None: WORKERS)."""
    env = {**os.environ, "PORT": str(port), "MASTER_KEY": master_key,
           "DATA_DIR": str(data_dir) if data_dir is not None else ""}
    env.pop("AWS_ENDPOINT_URL", None)
    if workers is not None:
        env["WORKERS"] = str(workers)
    return env


@contextmanager
def dev_server_process(log_dir: Path, *, data_dir: Path | None = None,
                       master_key: str | None = None,
                       workers: int | None = None,
                       port: int | None = None,
                       python: Path | None = None) -> Iterator[DevServerProcess]:
    """`python -m tests.support.devserver` on `port` (None: a free one), with a moto of its own
    (fresh, or with the data of `data_dir`), its handlers in `workers` processes (None:
    WORKERS), its console in `log_dir`/devserver.log. `python`: the interpreter to run it with
    (None: this one; a test in another venv, such as LiteLLM's client's, names `.venv`'s)."""
    port = port or free_port()
    master_key = master_key or "sk-" + secrets.token_urlsafe(32)
    log_path = log_dir / "devserver.log"
    command = DEV_SERVER_COMMAND if python is None else [str(python), *DEV_SERVER_COMMAND[1:]]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dev_server_environment(port, master_key, data_dir, workers),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(port, process, log_path)
        yield DevServerProcess(f"http://127.0.0.1:{port}", process, log_path, master_key)
    finally:
        # SIGTERM first: the server stops cleanly and removes its .devserver state file.
        stop(process)
