"""A real LiteLLM proxy (`make litellm`'s: LiteLLM 1.106.12 in .venv-litellm, the plugin, the
default config's mock models) in front of `make dev`'s server with four handler processes.

TeamLedger's keys get through LiteLLM and its refusals come back in LiteLLM's error shape;
budgets hold exactly, one call at a time and twenty at once; streamed calls settle their actual
cost and failed calls release their hold; and with TeamLedger stopped, calls are refused, and
nothing is charged twice once it is back.

The mock models answer 10 prompt tokens and 20 completion tokens whatever is asked: with the
default config's prices (0.001 and 0.002 USD per token) a call to mock-gpt costs 0.05. PROMPT is
10 tokens by LiteLLM's counter, so with max_tokens 20 the plugin's worst case equals the cost.
"""

import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal

import pytest

from tests.support.devhttp import call, send
from tests.support.devprocess import dev_server_process, free_port
from tests.support.litellmproxy import litellm_process

WORKERS = 4
PROMPT = "hello there friend"
CALL_COST = Decimal("0.05")
INPUT_PRICE, OUTPUT_PRICE = Decimal("0.001"), Decimal("0.002")
SETTLE_WAIT_S = 20


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUDGET_RESET_INTERVAL", "3600")  # no lease runs out during the module
        with dev_server_process(tmp_path_factory.mktemp("dev"), workers=WORKERS) as server:
            yield server


@pytest.fixture(scope="module")
def gateway(dev) -> str:
    return gateway_key(dev)


@pytest.fixture(scope="module")
def proxy(dev, gateway, tmp_path_factory):
    with litellm_process(tmp_path_factory.mktemp("litellm"), dev.url, gateway,
                         port=free_port()) as running:
        yield running


def gateway_key(dev) -> str:
    status, answer = call(dev, "POST", "/key/generate", {"allowed_routes": ["/spend/*"]})
    assert status == 200, answer
    return answer["key"]


def team_with_key(dev, **fields) -> tuple[str, str]:
    status, team = call(dev, "POST", "/team/new", fields)
    assert status == 200, team
    status, key = call(dev, "POST", "/key/generate", {"team_id": team["team_id"]})
    assert status == 200, key
    return team["team_id"], key["key"]


def chat(proxy, key: str, model: str = "mock-gpt", **body) -> tuple[int, dict]:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 20, **body}
    status, answer, _ = send(proxy, "POST", "/chat/completions", body, key=key)
    return status, answer


def spend(dev, team_id: str) -> Decimal:
    status, info = call(dev, "GET", f"/team/info?team_id={team_id}")
    assert status == 200, info
    return Decimal(repr(info["team_info"]["spend"]))


def reserved(dev, gateway: str, key: str) -> dict[str, Decimal]:
    """What every budget of `key` has reserved, read by a reserve of 0 (released at once)."""
    status, hold = call(dev, "POST", "/spend/reserve", {"key": key, "amount": 0}, key=gateway)
    assert status == 200, hold
    release = call(dev, "POST", "/spend/release", {"reservation_id": hold["reservation_id"]},
                   key=gateway)
    assert release[0] == 200, release
    return {scope: Decimal(repr(budget["reserved"])) for scope, budget in hold["scopes"].items()}


def eventually(read, expected, timeout_s: float = SETTLE_WAIT_S):
    """Settles run after the answer is sent: wait until `read()` gives `expected`."""
    deadline = time.monotonic() + timeout_s
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def litellm_error(answer: dict, status: int, kind: str) -> str:
    """LiteLLM's own error shape: {"error": {"message", "type", "param", "code"}}."""
    error = answer["error"]
    assert set(error) >= {"message", "type", "param", "code"}, answer
    assert (error["code"], error["type"]) == (str(status), kind), answer
    return error["message"]


def test_teamledger_keys_get_through_and_refusals_come_back_in_litellm_shape(dev, proxy):
    team_id, key = team_with_key(dev, max_budget=100, models=["mock-gpt"])

    status, answer = chat(proxy, key)
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "This is a mock answer."

    status, answer = chat(proxy, "sk-not-a-teamledger-key")
    assert status == 401
    assert "not valid" in litellm_error(answer, 401, "auth_error")

    blocked_team, blocked_key = team_with_key(dev, max_budget=100)
    assert call(dev, "POST", "/team/block", {"team_id": blocked_team})[0] == 200
    status, answer = chat(proxy, blocked_key)
    assert status == 401
    assert "blocked" in litellm_error(answer, 401, "auth_error")

    status, answer = chat(proxy, key, model="mock-gpt-large")
    assert status == 403
    assert "mock-gpt-large" in litellm_error(answer, 403, "key_model_access_denied")

    # Only the one call that ran was charged, and nothing stays held.
    assert eventually(lambda: spend(dev, team_id), CALL_COST) == CALL_COST


def test_a_budget_admits_exactly_what_it_holds_and_is_never_passed(dev, gateway, proxy):
    team_id, key = team_with_key(dev, max_budget=0.20)

    statuses = [chat(proxy, key) for _ in range(5)]
    assert [status for status, _ in statuses] == [200, 200, 200, 200, 429]
    message = litellm_error(statuses[-1][1], 429, "budget_exceeded")
    assert "scope: team" in message
    assert eventually(lambda: spend(dev, team_id), Decimal("0.2")) == Decimal("0.2")
    assert reserved(dev, gateway, key)["team"] == 0

    # max_tokens 45 holds 10 × 0.001 + 45 × 0.002 = 0.10 for a call that costs 0.05: the third
    # call is admitted at spend 0.10 (0.10 + 0.10 = 0.20), the fourth would pass the budget.
    team_id, key = team_with_key(dev, max_budget=0.20)
    passed = 0
    for _ in range(5):
        status, answer = chat(proxy, key, max_tokens=45)
        if status != 200:
            litellm_error(answer, 429, "budget_exceeded")
            continue
        passed += 1
        expected = CALL_COST * passed
        assert eventually(lambda: spend(dev, team_id), expected) == expected
    assert passed == 3
    assert spend(dev, team_id) == Decimal("0.15") <= Decimal("0.20")


def test_twenty_concurrent_calls_against_a_budget_for_ten(dev, gateway, proxy):
    team_id, key = team_with_key(dev, max_budget=0.50)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: chat(proxy, key), range(20)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 10 + [429] * 10, statuses
    assert eventually(lambda: spend(dev, team_id), Decimal("0.5")) == Decimal("0.5")
    assert reserved(dev, gateway, key)["team"] == 0


def stream(proxy, key: str) -> tuple[int, list[dict]]:
    body = json.dumps({"model": "mock-gpt", "stream": True, "max_tokens": 20,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": PROMPT}]}).encode()
    request = urllib.request.Request(f"{proxy.url}/chat/completions", data=body, headers={
        "content-type": "application/json", "authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        lines = response.read().decode().splitlines()
        chunks = [json.loads(line[len("data: "):]) for line in lines
                  if line.startswith("data: ") and line != "data: [DONE]"]
        return response.status, chunks


def test_a_streamed_call_settles_its_actual_cost(dev, gateway, proxy):
    team_id, key = team_with_key(dev, max_budget=10)

    status, chunks = stream(proxy, key)

    assert status == 200
    usage = next(chunk["usage"] for chunk in reversed(chunks) if chunk.get("usage"))
    actual = (usage["prompt_tokens"] * INPUT_PRICE
              + usage["completion_tokens"] * OUTPUT_PRICE)
    assert 0 < actual < CALL_COST, usage  # what was held is more than what the stream cost
    assert eventually(lambda: spend(dev, team_id), actual) == actual
    assert reserved(dev, gateway, key)["team"] == 0


def test_a_failing_call_releases_its_reservation(dev, gateway, proxy):
    team_id, key = team_with_key(dev, max_budget=10)

    status, answer = chat(proxy, key, model="mock-error")

    assert status == 500, answer
    assert eventually(lambda: reserved(dev, gateway, key)["team"], 0) == 0
    assert spend(dev, team_id) == 0


def test_teamledger_stopped_refuses_calls_and_charges_nothing_twice_once_back(tmp_path):
    port, data_dir = free_port(), tmp_path / "data"
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUDGET_RESET_INTERVAL", "3600")
        first = stack.enter_context(dev_server_process(
            tmp_path, data_dir=data_dir, workers=2, port=port))
        gateway = gateway_key(first)
        team_id, key = team_with_key(first, max_budget=10)
        # Settles keep trying for about a minute, at most a second apart.
        proxy = stack.enter_context(litellm_process(
            tmp_path, first.url, gateway, port=free_port(),
            extra_env={"TEAMLEDGER_MAX_BACKOFF": "1", "TEAMLEDGER_SETTLE_ATTEMPTS": "60",
                       "TEAMLEDGER_TIMEOUT": "2", "TEAMLEDGER_RESERVE_ATTEMPTS": "2"}))
        assert chat(proxy, key)[0] == 200
        assert eventually(lambda: spend(first, team_id), CALL_COST) == CALL_COST

        # A slow call is admitted, then TeamLedger stops while the provider answers: the call
        # succeeds and its settle waits for TeamLedger.
        slow: dict = {}
        worker = threading.Thread(target=lambda: slow.update(result=chat(proxy, key,
                                                                           model="mock-slow")))
        worker.start()
        assert eventually(lambda: reserved(first, gateway, key)["team"], CALL_COST,
                          timeout_s=3) == CALL_COST
        first.process.terminate()
        first.process.wait(timeout=15)

        refused = [chat(proxy, key) for _ in range(3)]
        worker.join(timeout=30)
        assert slow["result"][0] == 200, slow
        for status, answer in refused:
            assert status == 503, answer
            message = litellm_error(answer, 503, "teamledger_unavailable")
            assert "unreachable" in message and "TEAMLEDGER_FAIL_OPEN" in message

        (tmp_path / "again").mkdir()
        back = stack.enter_context(dev_server_process(
            tmp_path / "again", data_dir=data_dir, workers=2, port=port,
            master_key=first.master_key))
        # The slow call's settle lands once; the refused calls held and charged nothing.
        assert eventually(lambda: spend(back, team_id), 2 * CALL_COST,
                          timeout_s=60) == 2 * CALL_COST
        assert chat(proxy, key)[0] == 200
        assert eventually(lambda: spend(back, team_id), 3 * CALL_COST) == 3 * CALL_COST
        time.sleep(2)  # a second settle of anything would show now
        assert spend(back, team_id) == 3 * CALL_COST
        assert reserved(back, gateway, key)["team"] == 0


def test_the_teams_rpm_limit_is_enforced_by_litellm_and_its_refusal_holds_nothing(dev, gateway,
                                                                                   proxy):
    team_id, key = team_with_key(dev, max_budget=10, rpm_limit=1)

    statuses = [chat(proxy, key)[0] for _ in range(3)]

    assert statuses == [200, 429, 429]
    assert eventually(lambda: spend(dev, team_id), CALL_COST) == CALL_COST
    assert eventually(lambda: reserved(dev, gateway, key)["team"], 0) == 0
