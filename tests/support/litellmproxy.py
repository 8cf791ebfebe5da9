"""A LiteLLM proxy with the TeamLedger plugin in front of a TeamLedger: `make litellm`, and the
process the e2e tests and the bench start.

The proxy runs in its own venv (`.venv-litellm`: LiteLLM's pins and ours do not mix). This
module only starts it: it finds the TeamLedger (TEAMLEDGER_URL, else `make dev` on PORT), the
gateway key (TEAMLEDGER_KEY, else a new key allowed on `/spend/*`, generated with MASTER_KEY),
and LiteLLM's own master key (LITELLM_MASTER_KEY, else a random one: LiteLLM will not start
without a strong one), then runs `litellm --config LITELLM_CONFIG --port LITELLM_PORT`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.devprocess import stop
from tests.support.template import REPO_ROOT

LITELLM_VENV = REPO_ROOT / ".venv-litellm"
LITELLM = LITELLM_VENV / "bin" / "litellm"
DEFAULT_CONFIG = REPO_ROOT / "integrations" / "litellm" / "config.yaml"
DEFAULT_LITELLM_PORT = 4000
STARTUP_TIMEOUT_S = 90


class LaunchError(RuntimeError):
    """What the user must fix before the proxy can start, in words."""


def http_json(method: str, url: str, key: str | None = None, body: object = None,
              timeout: float = 10) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"null")
        except ValueError:
            return error.code, raw.decode(errors="replace")


def gateway_key(teamledger_url: str, master_key: str, alias: str | None = None) -> str:
    """A new TeamLedger key that may call only the per-call routes: the proxy's own key."""
    alias = alias or f"litellm-gateway-{time.strftime('%Y%m%dT%H%M%S')}"
    status, answer = http_json("POST", f"{teamledger_url}/key/generate", master_key,
                               {"key_alias": alias, "allowed_routes": ["/spend/*"]})
    if status != 200 or not isinstance(answer, dict):
        raise LaunchError(f"could not generate a gateway key on {teamledger_url} with MASTER_KEY "
                          f"({status}: {answer})")
    return str(answer["key"])


def proxy_environment(teamledger_url: str, teamledger_key: str, master_key: str,
                      extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "TEAMLEDGER_URL": teamledger_url, "TEAMLEDGER_KEY": teamledger_key,
           "LITELLM_MASTER_KEY": master_key,
           # The cost map inside the package: the proxy starts without a network.
           "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_TELEMETRY": "False"}
    env.pop("DATABASE_URL", None)  # TeamLedger holds the keys: the proxy keeps no database
    env.update(extra or {})
    return env


def command(config: Path, port: int) -> list[str]:
    if not LITELLM.exists():
        raise LaunchError(f"{LITELLM} is missing: `make litellm` installs it")
    return [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/liveliness", timeout=1) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class ProxyProcess:
    url: str
    process: subprocess.Popen
    log_path: Path
    master_key: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def litellm_process(log_dir: Path, teamledger_url: str, teamledger_key: str, *,
                    port: int, config: Path = DEFAULT_CONFIG,
                    extra_env: dict[str, str] | None = None,
                    name: str = "litellm") -> Iterator[ProxyProcess]:
    """A LiteLLM proxy with the plugin on `port`, in front of `teamledger_url`; its console in
    `log_dir`/`name`.log. Stopped (SIGTERM, then SIGKILL) on exit."""
    master_key = "sk-litellm-" + secrets.token_hex(24)
    log_path = log_dir / f"{name}.log"
    env = proxy_environment(teamledger_url, teamledger_key, master_key, extra_env)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command(config, port), cwd=REPO_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(f"LiteLLM proxy did not start on {port}:\n"
                                  f"{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)
        yield ProxyProcess(url, process, log_path, master_key)
    finally:
        stop(process, grace_s=15)


def _teamledger_url() -> str:
    url = os.environ.get("TEAMLEDGER_URL", "").strip().rstrip("/")
    return url or f"http://127.0.0.1:{os.environ.get('PORT') or 3000}"


def _teamledger_key(url: str) -> str:
    key = os.environ.get("TEAMLEDGER_KEY", "").strip()
    if key:
        return key
    master_key = os.environ.get("MASTER_KEY", "").strip()
    if not master_key:
        raise LaunchError(
            "set TEAMLEDGER_KEY to a TeamLedger key allowed on /spend/*, e.g.\n"
            f"  curl -s {url}/key/generate -H 'Authorization: Bearer <master key>' "
            "-d '{\"allowed_routes\": [\"/spend/*\"]}'\n"
            "or set MASTER_KEY (make dev's master key) and one is generated")
    key = gateway_key(url, master_key)
    print("  gateway key: generated on TeamLedger with MASTER_KEY (allowed_routes /spend/*)")
    return key


def main() -> None:
    url = _teamledger_url()
    port = int(os.environ.get("LITELLM_PORT") or DEFAULT_LITELLM_PORT)
    config = Path(os.environ.get("LITELLM_CONFIG") or DEFAULT_CONFIG)
    try:
        status, _ = http_json("GET", f"{url}/health/liveliness", timeout=3)
    except OSError:
        status = 0
    if status != 200:
        print(f"note: no TeamLedger answers on {url} yet (start `make dev`); until it does, "
              "every call is refused", file=sys.stderr)
    try:
        key = _teamledger_key(url)
        argv = command(config, port)
    except LaunchError as error:
        sys.exit(f"make litellm: {error}")
    master_key = os.environ.get("LITELLM_MASTER_KEY", "")
    shown = "from LITELLM_MASTER_KEY"
    if not master_key:
        master_key = shown = "sk-litellm-" + secrets.token_hex(24)
    print(f"LiteLLM proxy on http://127.0.0.1:{port}, config {config}")
    print(f"  TeamLedger: {url} (its keys, budgets and spend decide every call)")
    print(f"  LiteLLM master key: {shown}   (LiteLLM's own admin key, outside any budget)")
    sys.stdout.flush()
    os.execve(argv[0], argv, proxy_environment(url, key, master_key))


if __name__ == "__main__":
    main()
