"""The plugin's tests: TeamLedger's HTTP side is an httpx.MockTransport (no network), waits
between tries are recorded instead of slept, and LiteLLM reads its bundled cost map (it never
fetches one)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
import pytest

# Before LiteLLM is first imported (by the plugin, below): its bundled cost map, no fetch.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm.types.router import ModelGroupInfo  # noqa: E402
from teamledger_litellm import runtime as runtime_module  # noqa: E402
from teamledger_litellm.client import TeamLedger  # noqa: E402
from teamledger_litellm.estimate import PriceBook  # noqa: E402
from teamledger_litellm.settings import Settings  # noqa: E402

TEAMLEDGER_URL = "http://teamledger.test"
PLUGIN_KEY = "tl-plugin-key-0123456789"

# mock-gpt as config.yaml prices it.
MOCK_GPT = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002, "max_output_tokens": 100}

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def reservation_answer(reservation_id: str = "res-1", **fields: Any) -> dict[str, Any]:
    """What /spend/reserve answers (docs/api.md), for a key with a budget on key, user, team."""
    answer: dict[str, Any] = {
        "reservation_id": reservation_id, "state": "held", "expires_at": "2030-01-01T00:00:00Z",
        "user_id": "user-ada", "team_id": "team-blue", "key_alias": "ada-laptop",
        "models": ["mock-gpt"], "tpm_limit": 1000, "rpm_limit": 60,
        "scopes": {
            "key": {"spend": 1.25, "reserved": 0.05, "max_budget": 10.0, "remaining": 8.7},
            "user": {"spend": 2.5, "reserved": 0.05, "max_budget": 20.0, "remaining": 17.45},
            "team": {"spend": 7.0, "reserved": 0.05, "max_budget": 100.0, "remaining": 92.95},
        },
    }
    answer.update(fields)
    return answer


class FakeTeamLedgerServer:
    """TeamLedger as the plugin's HTTP client sees it: per path, a script of answers (a Response,
    an exception the transport raises, or a function of the request), the last one repeated;
    a path with no script answers like a healthy TeamLedger. Every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.script: dict[str, list[Answer]] = defaultdict(list)

    reservation = staticmethod(reservation_answer)

    def answer(self, path: str, *answers: Answer) -> None:
        self.script[path].extend(answers)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        script = self.script.get(request.url.path)
        if not script:
            return self.healthy(request)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    @staticmethod
    def healthy(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/spend/reserve":
            return httpx.Response(200, json=reservation_answer())
        if request.url.path == "/spend/settle":
            return httpx.Response(200, json={"reservation_id": body["reservation_id"],
                                             "state": "settled"})
        if request.url.path == "/spend/release":
            return httpx.Response(200, json={"reservation_id": body["reservation_id"],
                                             "state": "released"})
        return httpx.Response(404, json={"detail": {"error": "no such route"}})

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests
                if path is None or request.url.path == path]


class FakeRouter:
    """The proxy's router as the price book asks it: a ModelGroupInfo per model group, from
    `groups` (model group -> ModelGroupInfo fields); every question recorded."""

    def __init__(self, groups: dict[str, dict[str, Any]] | None = None) -> None:
        self.groups = dict(groups or {})
        self.asked: list[str] = []

    def get_model_group_info(self, model_group: str) -> ModelGroupInfo | None:
        self.asked.append(model_group)
        fields = self.groups.get(model_group)
        if fields is None:
            return None
        return ModelGroupInfo(model_group=model_group, providers=["openai"], **fields)


@pytest.fixture
def make_router() -> type[FakeRouter]:
    return FakeRouter


@pytest.fixture
def server() -> FakeTeamLedgerServer:
    return FakeTeamLedgerServer()


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the client asked for between tries, in order."""
    return []


@pytest.fixture
def fake_sleep(sleeps: list[float]) -> Callable[[float], Any]:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return sleep


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Settings as from_env reads them from a minimal environment, with fields overridden."""

    def make(**overrides: Any) -> Settings:
        settings = Settings.from_env({"TEAMLEDGER_URL": TEAMLEDGER_URL,
                                      "TEAMLEDGER_KEY": PLUGIN_KEY})
        return dataclasses.replace(settings, **overrides)

    return make


@pytest.fixture
def make_ledger(server: FakeTeamLedgerServer, fake_sleep: Callable[[float], Any],
                make_settings: Callable[..., Settings]) -> Callable[..., TeamLedger]:
    """A TeamLedger client talking to `server`, with settings overridden as given."""

    def make(**overrides: Any) -> TeamLedger:
        return TeamLedger(make_settings(**overrides), transport=server.transport,
                          sleep=fake_sleep)

    return make


@pytest.fixture
def install(make_ledger: Callable[..., TeamLedger],
            make_router: type[FakeRouter]) -> Callable[..., TeamLedger]:
    """Set the plugin's runtime (what `auth` and the callbacks use): a TeamLedger client on the
    fake server, with settings overridden as given, and a price book whose router prices
    mock-gpt as config.yaml does (0.001 / 0.002 USD per token, 100 output tokens)."""

    def install(**settings: Any) -> TeamLedger:
        ledger = make_ledger(**settings)
        router = make_router({"mock-gpt": MOCK_GPT})
        runtime_module.reset(ledger, PriceBook(ledger.settings, router=router))
        return ledger

    return install


def pytest_configure(config: pytest.Config) -> None:
    # Pydantic's notes on LiteLLM's own TypedDicts, emitted as LiteLLM builds its models.
    config.addinivalue_line("filterwarnings",
                            "ignore:Items? .* using the `ReadOnly` qualifier:UserWarning")


@pytest.fixture(autouse=True)
def fresh_runtime():
    """No test sees another's TeamLedger client or price book."""
    runtime_module.reset()
    yield
    runtime_module.reset()
