"""The proxy's callbacks: a call that succeeded settles its actual cost, one that failed releases
its hold, and neither ever raises into LiteLLM."""

import asyncio
import json
import logging
from decimal import Decimal

import httpx
import pytest
import teamledger_litellm
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth
from teamledger_litellm.client import TeamLedger
from teamledger_litellm.gate import FAILED_OPEN, RESERVATION, RESERVED
from teamledger_litellm.ledger import TeamLedgerCallbacks, key_metadata

HELD = {RESERVATION: "r1", RESERVED: "0.05"}


def logged_call(key_metadata: dict | None = None, response_cost=0.02, **extra) -> dict:
    """The kwargs LiteLLM passes a logger's async_log_success_event, with the auth's key
    metadata where the proxy puts it."""
    kwargs = {"model": "mock-gpt", "litellm_params": {"metadata": {
        "user_api_key_hash": "a" * 64, "user_api_key_metadata": key_metadata or {}}}}
    if response_cost is not None:
        kwargs["response_cost"] = response_cost
    kwargs.update(extra)
    return kwargs


def succeed(callbacks: TeamLedgerCallbacks, kwargs: dict) -> None:
    async def call_ends() -> None:
        await callbacks.async_log_success_event(kwargs, None, None, None)
        await callbacks.drain()

    asyncio.run(call_ends())


def fail(callbacks: TeamLedgerCallbacks, user_api_key_dict) -> None:
    async def call_fails() -> None:
        await callbacks.async_post_call_failure_hook(
            request_data={"model": "mock-gpt"}, original_exception=RuntimeError("provider 500"),
            user_api_key_dict=user_api_key_dict)
        await callbacks.drain()

    asyncio.run(call_fails())


def spent(server) -> list[tuple[str, Decimal]]:
    """(reservation id, spend) of every settle TeamLedger received, spend read exactly."""
    return [(body["reservation_id"], body["spend"])
            for body in (json.loads(request.content, parse_float=Decimal, parse_int=Decimal)
                         for request in server.requests if request.url.path == "/spend/settle")]


def test_a_successful_call_settles_its_response_cost(server, install):
    # Given a call that held 0.05 USD as reservation r1 and cost 0.02 USD
    install()
    # When LiteLLM logs its success
    succeed(TeamLedgerCallbacks(), logged_call(HELD, response_cost=0.02))
    # Then r1 is settled at 0.02 exactly
    assert server.paths() == ["/spend/settle"]
    assert spent(server) == [("r1", Decimal("0.02"))]


@pytest.mark.parametrize(("cost", "expected"), [(0.000123, "0.000123"), (1.5e-07, "1.5E-7"),
                                                (3, "3"), (0.0, "0")])
def test_the_spend_is_the_cost_as_litellm_wrote_it(server, install, cost, expected):
    install()
    succeed(TeamLedgerCallbacks(), logged_call(HELD, response_cost=cost))
    # A free call settles 0, not the amount held
    assert spent(server) == [("r1", Decimal(expected))]


@pytest.mark.parametrize("where", ["litellm_params.metadata", "litellm_params.litellm_metadata",
                                   "litellm_metadata", "standard_logging_object"])
def test_the_reservation_is_found_wherever_litellm_put_the_key_metadata(server, install, where):
    # Given the key metadata in one of the places LiteLLM passes it to loggers
    install()
    kwargs: dict = {"response_cost": 0.02, "litellm_params": {"metadata": {}}}
    if where == "litellm_params.metadata":
        kwargs["litellm_params"]["metadata"]["user_api_key_metadata"] = HELD
    elif where == "litellm_params.litellm_metadata":
        kwargs["litellm_params"]["litellm_metadata"] = {"user_api_key_metadata": HELD}
    elif where == "litellm_metadata":
        kwargs["litellm_metadata"] = {"user_api_key_metadata": HELD}
    else:
        kwargs["standard_logging_object"] = {
            "response_cost": 0.02, "metadata": {"user_api_key_auth_metadata": HELD}}
    # When the success is logged
    succeed(TeamLedgerCallbacks(), kwargs)
    # Then r1 is settled
    assert spent(server) == [("r1", Decimal("0.02"))]


def test_key_metadata_skips_holders_without_a_reservation():
    kwargs = {"litellm_params": {"metadata": {"user_api_key_metadata": {"team": "x"}}},
              "standard_logging_object": {"metadata": {"user_api_key_auth_metadata": HELD}}}
    assert key_metadata(kwargs) == HELD
    assert key_metadata({}) == {}
    assert key_metadata({"litellm_params": {"metadata": "not a mapping"}}) == {}


def test_without_a_response_cost_the_amount_held_is_settled(server, install, caplog):
    # Given a call LiteLLM could not price (no response_cost anywhere)
    install()
    # When its success is logged
    with caplog.at_level(logging.WARNING, logger="teamledger_litellm"):
        succeed(TeamLedgerCallbacks(), logged_call(HELD, response_cost=None))
    # Then the worst case that was held is charged, and that is logged
    assert spent(server) == [("r1", Decimal("0.05"))]
    assert "no response_cost for reservation r1" in caplog.text


def test_the_standard_logging_objects_cost_is_used_when_kwargs_have_none(server, install):
    install()
    succeed(TeamLedgerCallbacks(), logged_call(
        HELD, response_cost=None, standard_logging_object={"response_cost": 0.031}))
    assert spent(server) == [("r1", Decimal("0.031"))]


def test_a_call_without_a_reservation_settles_nothing(server, install):
    # Given a call whose key metadata has no reservation (e.g. LiteLLM's master key)
    install()
    # When its success is logged
    succeed(TeamLedgerCallbacks(), logged_call({}, response_cost=0.02))
    succeed(TeamLedgerCallbacks(), {"response_cost": 0.02})
    # Then TeamLedger is not asked anything
    assert server.requests == []


def test_a_call_let_through_uncharged_is_logged_not_settled(server, install, caplog):
    # Given a call let through while TeamLedger was unreachable (TEAMLEDGER_FAIL_OPEN)
    install()
    kwargs = logged_call({FAILED_OPEN: True}, response_cost=0.02, standard_logging_object={
        "metadata": {"user_api_key_auth_metadata": {FAILED_OPEN: True}}})
    # When its success is logged
    with caplog.at_level(logging.WARNING, logger="teamledger_litellm"):
        succeed(TeamLedgerCallbacks(), kwargs)
    # Then nothing is sent, and the uncharged cost is logged
    assert server.requests == []
    assert "was not charged (cost 0.02 USD)" in caplog.text


def test_a_failed_call_releases_its_hold(server, install):
    # Given a call whose auth reserved r1
    install()
    identity = UserAPIKeyAuth(token="a" * 64, metadata=dict(HELD))
    # When the proxy's failure hook runs for it
    fail(TeamLedgerCallbacks(), identity)
    # Then r1 is released, and nothing is settled
    assert server.paths() == ["/spend/release"]
    assert server.bodies() == [{"reservation_id": "r1"}]


@pytest.mark.parametrize("identity", [UserAPIKeyAuth(token="a" * 64),
                                      UserAPIKeyAuth(metadata={FAILED_OPEN: True}),
                                      None, {"metadata": HELD}])
def test_a_failure_without_a_reservation_releases_nothing(server, install, identity):
    install()
    fail(TeamLedgerCallbacks(), identity)
    assert server.requests == []


def test_a_settle_that_gives_up_is_logged_not_raised(server, install, caplog):
    # Given TeamLedger unreachable for every try of a settle
    server.answer("/spend/settle", httpx.ConnectError("connection refused"))
    install(settle_attempts=3)
    # When a success is logged
    with caplog.at_level(logging.WARNING, logger="teamledger_litellm"):
        succeed(TeamLedgerCallbacks(), logged_call(HELD, response_cost=0.02))
    # Then it was tried TEAMLEDGER_SETTLE_ATTEMPTS times, and the loss is logged, not raised
    assert server.paths() == ["/spend/settle"] * 3
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "settle of reservation r1 (0.02 USD) gave up" in errors[0].getMessage()
    assert "lease will charge the amount held" in errors[0].getMessage()


def test_a_refused_settle_is_logged_not_raised(server, install, caplog):
    server.answer("/spend/settle", httpx.Response(
        409, json={"detail": {"error": "reservation r1 was released"}}))
    install()
    with caplog.at_level(logging.WARNING, logger="teamledger_litellm"):
        succeed(TeamLedgerCallbacks(), logged_call(HELD, response_cost=0.02))
    assert len(server.requests) == 1
    assert "settle of reservation r1 refused: 409 reservation r1 was released" in caplog.text


def test_a_settle_with_a_refused_plugin_key_is_logged_not_raised(server, install, caplog):
    server.answer("/spend/settle", httpx.Response(403, json={"detail": {"error": "Forbidden"}}))
    install()
    with caplog.at_level(logging.WARNING, logger="teamledger_litellm"):
        succeed(TeamLedgerCallbacks(), logged_call(HELD, response_cost=0.02))
    assert "settle of reservation r1 (0.02 USD) gave up" in caplog.text
    assert "TEAMLEDGER_KEY" in caplog.text


@pytest.mark.parametrize(("answer", "logged"), [
    (httpx.Response(503), "release of reservation r1 gave up"),
    (httpx.Response(404, json={"detail": {"error": "unknown reservation"}}),
     "release of reservation r1 refused: 404 unknown reservation"),
])
def test_a_release_that_fails_is_logged_not_raised(server, install, caplog, answer, logged):
    server.answer("/spend/release", answer)
    install(settle_attempts=2)
    with caplog.at_level(logging.WARNING, logger="teamledger_litellm"):
        fail(TeamLedgerCallbacks(), UserAPIKeyAuth(metadata=dict(HELD)))
    assert logged in caplog.text


def test_the_settle_runs_in_the_background_without_delaying_the_call(server, install,
                                                                     make_settings):
    # Given TeamLedger answering the first settle 503, and a retry waiting until released
    server.answer("/spend/settle", httpx.Response(503),
                  httpx.Response(200, json={"reservation_id": "r1", "state": "settled"}))
    install()
    waiting = []

    async def scenario() -> None:
        go_on = asyncio.Event()

        async def sleep(seconds: float) -> None:
            waiting.append(seconds)
            await go_on.wait()

        ledger, prices = teamledger_litellm.runtime.runtime()
        teamledger_litellm.runtime.reset(
            TeamLedger(ledger.settings, transport=server.transport, sleep=sleep), prices)
        callbacks = TeamLedgerCallbacks()
        # When the success is logged
        await callbacks.async_log_success_event(logged_call(HELD), None, None, None)
        # Then the logger returned while the settle still waits to retry
        for _ in range(20):
            await asyncio.sleep(0)
        assert waiting and len(callbacks.pending) == 1
        # And the settle completes on its own, then leaves nothing pending
        go_on.set()
        await callbacks.drain()
        assert callbacks.pending == set()

    asyncio.run(scenario())
    assert spent(server) == [("r1", Decimal("0.02"))] * 2


def test_the_proxy_config_names_a_ready_callbacks_instance():
    # config.yaml: litellm_settings.callbacks: teamledger_litellm.callbacks
    assert isinstance(teamledger_litellm.callbacks, TeamLedgerCallbacks)
    assert isinstance(teamledger_litellm.callbacks, CustomLogger)
    assert callable(teamledger_litellm.auth)
