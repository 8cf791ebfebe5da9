"""Section 7 of `make bench`: what TeamLedger's auth and settle add to one LiteLLM proxy call.

Two proxies in front of one dev server (WORKERS=4), measured side by side in one run: A with
LiteLLM's own master-key auth and no plugin, B with the default config (the plugin's custom
auth reserving on /spend/reserve, its callbacks settling on /spend/settle), called with a key of
a team with a large budget. The same chat completion to the mock model goes to each, round-robin
A, B, A, B over one kept-alive connection per proxy, so drift hits both alike. The plugin's
settle runs after the answer is sent; its time is measured apart, straight against the dev
server with the gateway key (reserve, then settle). Last, the team's spend is checked against
the calls made: 0.05 USD per call through B plus each direct settle.
"""

from __future__ import annotations

import http.client
import json
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bench.tables import render, section, verdict

TITLE = "7. LiteLLM proxy: what TeamLedger's auth and settle add to one call"
WARMUP = 10  # calls per proxy before measuring
CALLS = 200  # measured calls per proxy, and direct reserve+settle pairs
WORKERS = 4  # the dev server's handler processes
MODEL = "mock-gpt"
COST = 0.05  # USD per mock-gpt call (10 × 0.001 + 20 × 0.002), also its reservation
SETTLE_WAIT_S = 10  # how long the spend check waits for the proxy's settles still in flight
CHAT = {"model": MODEL, "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello there friend"}]}
PLAIN = "A: LiteLLM master-key auth, no plugin"
PLUGIN = "B: TeamLedger plugin (reserve in auth)"


class Client:
    """One kept-alive HTTP/1.1 connection to a server, with a bearer key."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.key = key

    def call(self, method: str, path: str, body: object = None) -> tuple[float, Any]:
        """The call's wall time in ms and its JSON answer; anything but a 200 raises."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        started = time.perf_counter()
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        raw = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:500]!r}")
        return elapsed, json.loads(raw or b"null")

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def plain_config(directory: Path) -> Path:
    """The default config's models and settings, without the plugin: LiteLLM's own auth, its
    master key from LITELLM_MASTER_KEY."""
    from tests.support.litellmproxy import DEFAULT_CONFIG

    config = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    config["litellm_settings"].pop("callbacks", None)
    config["general_settings"] = {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    path = directory / "plain.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _team_key(url: str, master_key: str) -> dict[str, str]:
    """A team with a large budget, any model, and a key of it (its raw key and token)."""
    team_id = f"bench-litellm-{uuid.uuid4().hex[:8]}"
    with Client(url, master_key) as admin:
        admin.call("POST", "/team/new", {"team_id": team_id, "team_alias": "bench litellm",
                                         "max_budget": 1e6})
        _, key = admin.call("POST", "/key/generate", {"team_id": team_id, "key_alias": team_id})
    return {"team_id": team_id, "key": key["key"], "token": key["token"]}


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=10, method="inclusive")
    return {"p50": statistics.median(samples), "p90": cuts[8], "n": len(samples)}


def _proxied(plain: Client, plugin: Client) -> dict[str, list[float]]:
    """Round-robin A, B; the first WARMUP of each are not kept."""
    times: dict[str, list[float]] = {PLAIN: [], PLUGIN: []}
    for n in range(WARMUP + CALLS):
        for name, client in ((PLAIN, plain), (PLUGIN, plugin)):
            elapsed, answer = client.call("POST", "/v1/chat/completions", CHAT)
            if not answer.get("choices"):
                raise RuntimeError(f"{name}: no choices in {answer}")
            if n >= WARMUP:
                times[name].append(elapsed)
    return times


def _direct(gateway: Client, token: str) -> dict[str, list[float]]:
    """The plugin's two calls, straight to the dev server: reserve the cost, settle it."""
    times: dict[str, list[float]] = {"reserve": [], "settle": []}
    for _ in range(CALLS):
        elapsed, reservation = gateway.call("POST", "/spend/reserve", {
            "token": token, "amount": COST, "model": MODEL, "request_id": uuid.uuid4().hex,
            "ttl_seconds": 600})
        times["reserve"].append(elapsed)
        elapsed, _ = gateway.call("POST", "/spend/settle", {
            "reservation_id": reservation["reservation_id"], "spend": COST})
        times["settle"].append(elapsed)
    return times


def _spend_check(url: str, master_key: str, team_id: str, expected: float) -> dict[str, Any]:
    """The team's spend against `expected`, polled while the proxy's settles may be running."""
    deadline = time.monotonic() + SETTLE_WAIT_S
    while True:
        with Client(url, master_key) as admin:  # a new connection: the setup's went idle
            _, info = admin.call("GET", f"/team/info?team_id={team_id}")
        spend = float(info["team_info"]["spend"])
        ok = abs(spend - expected) < 1e-6
        if ok or time.monotonic() > deadline:
            return {"expected_usd": round(expected, 6), "team_spend_usd": round(spend, 6),
                    "ok": ok}
        time.sleep(0.2)


def measure() -> dict[str, Any]:
    from tests.support.devprocess import dev_server_process, free_port
    from tests.support.litellmproxy import gateway_key, litellm_process

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-litellm-") as directory, ExitStack() as stack:
        logs = Path(directory)
        dev = stack.enter_context(dev_server_process(logs, workers=WORKERS))
        team = _team_key(dev.url, dev.master_key)
        gateway_raw = gateway_key(dev.url, dev.master_key, alias="bench-litellm-gateway")
        proxy_a = stack.enter_context(litellm_process(
            logs, dev.url, gateway_raw, port=free_port(), config=plain_config(logs),
            name="litellm-plain"))
        proxy_b = stack.enter_context(litellm_process(
            logs, dev.url, gateway_raw, port=free_port(), name="litellm-plugin"))
        plain, plugin = Client(proxy_a.url, proxy_a.master_key), Client(proxy_b.url, team["key"])
        gateway = Client(dev.url, gateway_raw)
        for client in (plain, plugin, gateway):
            stack.callback(client.close)
        measured = time.perf_counter()
        proxied = _proxied(plain, plugin)
        through_proxies = time.perf_counter()
        direct = _direct(gateway, team["token"])
        b_calls = WARMUP + CALLS
        check = _spend_check(dev.url, dev.master_key, team["team_id"], COST * (b_calls + CALLS))
        finished = time.perf_counter()
        return {"proxied": proxied, "direct": direct, "check": check,
                "seconds": {"setup": measured - started, "proxies": through_proxies - measured,
                            "direct": finished - through_proxies}}


def results(measured: dict[str, Any]) -> dict[str, Any]:
    """bench/results.json's `litellm_overhead`: ms, rounded."""
    def rounded(samples: list[float]) -> dict[str, float]:
        return {name: round(value, 2) for name, value in _percentiles(samples).items()}

    proxied = {"litellm_master_key": rounded(measured["proxied"][PLAIN]),
               "teamledger_plugin": rounded(measured["proxied"][PLUGIN])}
    return {
        "calls_per_proxy": CALLS,
        "proxy_ms": proxied,
        "added_by_auth_p50_ms": round(proxied["teamledger_plugin"]["p50"]
                                      - proxied["litellm_master_key"]["p50"], 2),
        "direct_ms": {name: rounded(samples) for name, samples in measured["direct"].items()},
        "spend_check": measured["check"],
    }


def report(measured: dict[str, Any]) -> str:
    summary = results(measured)
    plain, plugin = summary["proxy_ms"]["litellm_master_key"], summary["proxy_ms"][
        "teamledger_plugin"]
    direct = summary["direct_ms"]
    rows = [
        [PLAIN, f"{plain['p50']:.1f}", f"{plain['p90']:.1f}"],
        [PLUGIN, f"{plugin['p50']:.1f}", f"{plugin['p90']:.1f}"],
        ["added by auth (p50 B − p50 A)", f"{summary['added_by_auth_p50_ms']:+.1f}", ""],
        ["/spend/reserve, gateway key, direct", f"{direct['reserve']['p50']:.1f}",
         f"{direct['reserve']['p90']:.1f}"],
        ["/spend/settle, gateway key, direct", f"{direct['settle']['p50']:.1f}",
         f"{direct['settle']['p90']:.1f}"],
    ]
    check = summary["spend_check"]
    return "\n".join([
        render(["call", "p50 ms", "p90 ms"], rows),
        f"({CALLS} calls per proxy after {WARMUP} warm-up each, round-robin A, B over one "
        f"kept-alive connection each; one dev server, WORKERS={WORKERS}; {CALLS} direct "
        "reserve+settle pairs after them)",
        "(the proxy settles after the answer is sent, in the background: settle adds nothing "
        "to the caller's latency, only load on the dev server while B's next call reserves; "
        "reserve is inside B's auth)",
        f"spend check: team spend {check['team_spend_usd']:.2f} USD, expected "
        f"{check['expected_usd']:.2f} (0.05 × {WARMUP + CALLS} calls through B + 0.05 × "
        f"{CALLS} direct settles): {verdict(check['ok'])}",
    ])


def main() -> None:
    section(TITLE)
    measured = measure()
    print(report(measured), flush=True)
    seconds = measured["seconds"]
    print(f"(dev server and proxies started in {seconds['setup']:.0f} s; proxied calls "
          f"{seconds['proxies']:.0f} s; direct calls and the check {seconds['direct']:.0f} s)",
          flush=True)


if __name__ == "__main__":
    main()
