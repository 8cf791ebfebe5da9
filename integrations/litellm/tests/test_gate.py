"""The proxy's custom auth: each LLM call is a reservation in TeamLedger, or it does not run."""

import asyncio
import hashlib
import json
import sys
import types
from decimal import Decimal

import httpx
import litellm
import pytest
from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from starlette.requests import Request
from teamledger_litellm import auth, runtime
from teamledger_litellm.gate import FAILED_OPEN, RESERVATION, RESERVED

RAW_KEY = "sk-ada-raw-secret-key-7f3a9c"
TOKEN = hashlib.sha256(RAW_KEY.encode()).hexdigest()
MESSAGES = [{"role": "user", "content": "Write a haiku about budgets."}]


def proxy_request(path: str, body: dict | None = None, method: str = "POST",
                  path_params: dict | None = None) -> Request:
    """The request LiteLLM's proxy hands its custom auth (a starlette Request)."""
    content = b"" if body is None else json.dumps(body).encode()
    scope = {
        "type": "http", "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "server": ("proxy.test", 4000), "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"proxy.test:4000"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                    (b"authorization", f"Bearer {RAW_KEY}".encode())],
        "path_params": path_params or {},
    }
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": content, "more_body": False}

    return Request(scope, receive)


def chat(max_tokens: int = 50, model: str = "mock-gpt") -> Request:
    return proxy_request("/chat/completions",
                         {"model": model, "messages": MESSAGES, "max_tokens": max_tokens})


def authenticate(request: Request, api_key: str = RAW_KEY) -> UserAPIKeyAuth:
    return asyncio.run(auth(request, api_key))


def refusal(request: Request, api_key: str = RAW_KEY) -> ProxyException:
    with pytest.raises(ProxyException) as refused:
        authenticate(request, api_key)
    return refused.value


def assert_raw_key_never_sent(server) -> None:
    assert server.requests, "TeamLedger was never asked"
    for request in server.requests:
        assert RAW_KEY not in str(request.url)
        assert all(RAW_KEY not in value for value in request.headers.values())
        assert RAW_KEY.encode() not in request.content


@pytest.fixture(autouse=True)
def proxy_without_master_key(monkeypatch):
    """LiteLLM's proxy_server module as the auth reads it (importing the real one takes
    seconds): no master key unless a test sets one."""
    module = types.ModuleType("litellm.proxy.proxy_server")
    module.master_key = None
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", module)
    return module


def test_a_call_is_reserved_and_answered_with_the_keys_identity(server, install):
    # Given TeamLedger holding calls for Ada's key
    install(lease_s=300)
    # When she calls mock-gpt for at most 50 tokens
    identity = authenticate(chat(max_tokens=50))
    # Then her worst case was reserved under her key's token
    expected = litellm.token_counter(model="mock-gpt", messages=MESSAGES) * Decimal(
        "0.001") + 50 * Decimal("0.002")
    (request,) = server.requests
    assert request.url.path == "/spend/reserve"
    body = json.loads(request.content, parse_float=Decimal)
    assert body["token"] == TOKEN
    assert body["amount"] == expected
    assert body["model"] == "mock-gpt"
    assert body["ttl_seconds"] == 300
    assert isinstance(body["request_id"], str) and body["request_id"]
    # And LiteLLM gets her key's identity from TeamLedger's answer
    assert isinstance(identity, UserAPIKeyAuth)
    assert identity.user_id == "user-ada"
    assert identity.team_id == "team-blue"
    assert identity.key_alias == "ada-laptop"
    assert identity.models == ["mock-gpt"]
    assert identity.tpm_limit == 1000
    assert identity.rpm_limit == 60
    assert identity.user_role == LitellmUserRoles.INTERNAL_USER
    assert identity.token == TOKEN
    assert identity.api_key == TOKEN
    assert identity.key_name == f"sk-...{RAW_KEY[-4:]}"
    assert (identity.spend, identity.max_budget) == (1.25, 10.0)
    assert (identity.user_spend, identity.user_max_budget) == (2.5, 20.0)
    assert (identity.team_spend, identity.team_max_budget) == (7.0, 100.0)
    # And the reservation rides in the key metadata, for the callbacks to settle
    assert identity.metadata[RESERVATION] == "res-1"
    assert Decimal(identity.metadata[RESERVED]) == expected
    # And the raw key never left the proxy
    assert_raw_key_never_sent(server)


def test_each_call_gets_its_own_request_id(server, install):
    install()
    authenticate(chat())
    authenticate(chat())
    first, second = server.bodies("/spend/reserve")
    assert first["request_id"] != second["request_id"]


def test_a_model_in_the_path_is_the_calls_model(server, install):
    # Given an Azure-style route naming the deployment in its path, not in the body
    install()
    request = proxy_request("/openai/deployments/mock-gpt/chat/completions",
                            {"messages": MESSAGES, "max_tokens": 10},
                            path_params={"model": "mock-gpt"})
    # When the call is authenticated
    authenticate(request)
    # Then the reservation is for that model, at its price
    (body,) = server.bodies()
    assert body["model"] == "mock-gpt"
    assert body["amount"] > 10 * 0.002


@pytest.mark.parametrize("path", ["/v1beta/models/mock-gpt:generateContent",
                                  "/models/mock-gpt:streamGenerateContent"])
def test_a_gemini_route_names_its_model_in_the_path(server, install, path):
    # Given Google's generateContent route: the model is the path's model_name, and the prompt
    # is in "contents" (no "model" in the body)
    install()
    words = "Explain double-entry bookkeeping to a five year old. " * 5
    request = proxy_request(path, {"contents": [{"role": "user", "parts": [{"text": words}]}]},
                            path_params={"model_name": "mock-gpt"})
    # When the call is authenticated
    identity = authenticate(request)
    # Then its worst case is held for that model (the prompt's tokens and 100 output tokens at
    # mock-gpt's prices), and the hold is kept for the callbacks to settle, not released
    assert server.paths() == ["/spend/reserve"]
    (body,) = server.bodies()
    assert body["model"] == "mock-gpt"
    prompt = litellm.token_counter(model="mock-gpt", text=words)
    assert body["amount"] >= prompt * 0.001 + 100 * 0.002
    assert identity.metadata[RESERVATION] == "res-1"


def test_the_reservation_survives_a_lost_answer_as_one_reservation(server, install, sleeps):
    # Given TeamLedger whose first answer is lost
    server.answer("/spend/reserve", httpx.ReadTimeout("lost"),
                  httpx.Response(200, json=server.reservation("res-once")))
    install()
    # When a call is authenticated
    identity = authenticate(chat())
    # Then the retry carried the same request id, and the call holds the one reservation
    first, second = server.bodies("/spend/reserve")
    assert first == second
    assert identity.metadata[RESERVATION] == "res-once"
    assert len(sleeps) == 1


@pytest.mark.parametrize(("status", "detail", "code", "kind", "words"), [
    (401, {"error": "key is blocked", "type": "invalid_user_key"}, "401", "auth_error",
     ["Authentication Error", "key is blocked"]),
    (401, {"error": "Authentication Error, key expired", "type": "invalid_user_key"}, "401",
     "auth_error", ["Authentication Error, key expired"]),
    (403, {"error": "model mock-gpt is not allowed for this key", "type": "model_not_allowed"},
     "403", "key_model_access_denied", ["model mock-gpt is not allowed for this key"]),
    (429, {"error": "team budget exceeded", "type": "budget_exceeded", "scope": "team",
           "remaining": 0.0123}, "429", "budget_exceeded",
     ["Budget has been exceeded!", "team budget exceeded", "scope: team", "remaining: 0.0123"]),
    (400, {"error": "amount too large", "type": "bad_amount"}, "400", "invalid_request_error",
     ["amount too large"]),
])
def test_teamledgers_refusal_is_answered_in_litellms_error_shape(server, install, status,
                                                                 detail, code, kind, words):
    # Given TeamLedger refusing the call
    server.answer("/spend/reserve", httpx.Response(status, json={"detail": detail}))
    install()
    # When the call is authenticated
    error = refusal(chat())
    # Then LiteLLM answers the caller with the same status and a type it knows
    assert error.code == code
    assert error.type == kind
    for word in words:
        assert word in error.message
    # And TeamLedger was asked once
    assert len(server.requests) == 1


def test_a_model_refusal_names_the_model_parameter(server, install):
    server.answer("/spend/reserve", httpx.Response(
        403, json={"detail": {"error": "not allowed", "type": "model_not_allowed"}}))
    install()
    assert refusal(chat()).param == "model"


def test_an_unreachable_teamledger_refuses_the_call_by_default(server, install):
    # Given TeamLedger that never answers, and failing open not allowed
    server.answer("/spend/reserve", httpx.ConnectError("connection refused"))
    install(reserve_attempts=3, fail_open=False)
    # When a call is authenticated
    error = refusal(chat())
    # Then it is refused with 503, saying why and how to let calls through
    assert error.code == "503"
    assert error.type == "teamledger_unavailable"
    assert "unreachable" in error.message
    assert "the call is refused" in error.message
    assert "TEAMLEDGER_FAIL_OPEN" in error.message
    assert len(server.requests) == 3


def test_with_fail_open_an_unreachable_teamledger_lets_the_call_through_uncharged(server,
                                                                                 install):
    # Given TeamLedger answering 503 on every try, and TEAMLEDGER_FAIL_OPEN=true
    server.answer("/spend/reserve", httpx.Response(503))
    install(reserve_attempts=2, fail_open=True)
    # When a call is authenticated
    identity = authenticate(chat())
    # Then it goes ahead, marked as let through, with no reservation to settle
    assert isinstance(identity, UserAPIKeyAuth)
    assert identity.metadata == {FAILED_OPEN: True}
    assert RESERVATION not in identity.metadata
    assert identity.token == TOKEN
    assert identity.user_role == LitellmUserRoles.INTERNAL_USER
    assert server.paths() == ["/spend/reserve", "/spend/reserve"]
    assert_raw_key_never_sent(server)


@pytest.mark.parametrize("fail_open", [False, True])
def test_a_refused_plugin_key_is_a_503_even_when_failing_open(server, install, fail_open):
    # Given TeamLedger refusing TEAMLEDGER_KEY itself
    server.answer("/spend/reserve",
                  httpx.Response(401, json={"detail": {"error": "Invalid API key"}}))
    install(fail_open=fail_open)
    # When a call is authenticated
    error = refusal(chat())
    # Then it is refused as a configuration problem, never let through
    assert error.code == "503"
    assert error.type == "teamledger_unavailable"
    assert "TEAMLEDGER_KEY" in error.message
    assert len(server.requests) == 1


def test_a_refusal_is_not_failed_open(server, install):
    server.answer("/spend/reserve", httpx.Response(
        429, json={"detail": {"error": "over", "type": "budget_exceeded", "scope": "key",
                              "remaining": 0}}))
    install(fail_open=True)
    assert refusal(chat()).code == "429"


@pytest.mark.parametrize(("method", "path"), [("POST", "/key/generate"), ("GET", "/team/list"),
                                              ("POST", "/user/new"), ("GET", "/spend/logs")])
def test_a_route_that_is_not_an_llm_call_is_refused_without_asking_teamledger(
        server, install, method, path):
    # Given the proxy's own management routes (keys, teams, budgets live in TeamLedger)
    install()
    # When one is called with a user's key
    error = refusal(proxy_request(path, {"models": ["mock-gpt"]}, method=method))
    # Then it is refused with 403, saying where they are managed
    assert error.code == "403"
    assert path in error.message
    assert "TeamLedger" in error.message
    assert server.requests == []


@pytest.mark.parametrize("api_key", ["", None])
def test_a_call_without_a_key_is_a_401(server, install, api_key):
    install()
    error = refusal(chat(), api_key=api_key)
    assert error.code == "401"
    assert error.type == "auth_error"
    assert "no API key" in error.message
    assert server.requests == []


def test_listing_models_checks_the_key_and_holds_nothing(server, install):
    # Given TeamLedger knowing Ada's key
    server.answer("/spend/reserve",
                  httpx.Response(200, json=server.reservation("res-models")))
    install()
    # When she lists the models (no model, no body)
    identity = authenticate(proxy_request("/v1/models", method="GET"))
    # Then her key was checked by a reservation of 0 for no model, released at once
    assert server.paths() == ["/spend/reserve", "/spend/release"]
    reserve_body, release_body = server.bodies()
    assert reserve_body["amount"] == 0
    assert "model" not in reserve_body
    assert reserve_body["token"] == TOKEN
    assert release_body == {"reservation_id": "res-models"}
    # And she gets her identity
    assert identity.user_id == "user-ada"
    assert Decimal(identity.metadata[RESERVED]) == 0
    assert_raw_key_never_sent(server)


@pytest.mark.parametrize(("path", "body", "path_params"), [
    ("/v1/messages/count_tokens", {"model": "mock-gpt", "messages": MESSAGES}, None),
    ("/utils/token_counter", {"model": "mock-gpt", "messages": MESSAGES}, None),
    ("/v1beta/models/mock-gpt:countTokens",
     {"contents": [{"role": "user", "parts": [{"text": "How many tokens is this?"}]}]},
     {"model_name": "mock-gpt"}),
])
def test_counting_tokens_checks_the_key_and_model_and_holds_nothing(server, install, path, body,
                                                                    path_params):
    # Given a route that counts a prompt's tokens and calls no model (LiteLLM logs no success
    # or failure for it, so nothing would ever settle or release a hold)
    install()
    # When it is called
    identity = authenticate(proxy_request(path, body, path_params=path_params))
    # Then the key and its model are checked by a reservation of 0, released at once: a hold
    # left to its lease would charge the caller a call that never happened
    assert server.paths() == ["/spend/reserve", "/spend/release"]
    reserve_body, release_body = server.bodies()
    assert reserve_body["amount"] == 0
    assert reserve_body["model"] == "mock-gpt"
    assert release_body == {"reservation_id": "res-1"}
    assert identity.user_id == "user-ada"


def test_counting_tokens_for_a_model_the_key_may_not_use_is_a_403(server, install):
    server.answer("/spend/reserve", httpx.Response(
        403, json={"detail": {"error": "model not allowed", "type": "model_not_allowed"}}))
    install()
    request = proxy_request("/v1/messages/count_tokens",
                            {"model": "mock-gpt", "messages": MESSAGES})
    assert refusal(request).code == "403"
    assert server.paths() == ["/spend/reserve"]


def test_listing_models_with_an_unknown_key_is_a_401(server, install):
    server.answer("/spend/reserve", httpx.Response(
        401, json={"detail": {"error": "unknown key", "type": "invalid_user_key"}}))
    install()
    error = refusal(proxy_request("/v1/models", method="GET"))
    assert error.code == "401"
    assert server.paths() == ["/spend/reserve"]


def test_listing_models_is_answered_even_if_the_release_fails(server, install, caplog):
    # Given TeamLedger that checks the key, then fails to answer the release of its 0 hold
    server.answer("/spend/release", httpx.Response(503))
    install(settle_attempts=2)
    # When the models are listed
    identity = authenticate(proxy_request("/v1/models", method="GET"))
    # Then the caller still gets the answer at once: the key is valid, and a 0 USD hold that
    # is never released charges nothing when its lease ends, so the release is tried once only
    assert identity.user_id == "user-ada"
    assert server.paths() == ["/spend/reserve", "/spend/release"]
    # And the failed release is logged
    assert "release of key check res-1 failed" in caplog.text


def test_the_proxys_master_key_keeps_litellms_admin_rights(server, install,
                                                         proxy_without_master_key):
    # Given a LiteLLM master key
    proxy_without_master_key.master_key = "sk-litellm-master"
    install()
    # When it is used
    identity = authenticate(chat(), api_key="sk-litellm-master")
    # Then LiteLLM's admin is let in, without a reservation
    assert identity.user_role == LitellmUserRoles.PROXY_ADMIN
    assert server.requests == []
    # And any other key still goes through TeamLedger
    assert authenticate(chat()).metadata[RESERVATION] == "res-1"


def test_without_settings_every_call_is_refused_saying_what_to_fix(server, monkeypatch):
    # Given a proxy whose TEAMLEDGER_URL is not set
    monkeypatch.delenv("TEAMLEDGER_URL", raising=False)
    monkeypatch.setenv("TEAMLEDGER_KEY", "tl-key")
    runtime.reset()
    # When a call is authenticated
    error = refusal(chat())
    # Then it is refused with 503, naming the variable
    assert error.code == "503"
    assert "TeamLedger is not configured" in error.message
    assert "TEAMLEDGER_URL" in error.message
