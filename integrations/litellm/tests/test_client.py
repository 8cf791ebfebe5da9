"""TeamLedger's three routes over HTTP: the bodies sent, the retries, and what a refusal is."""

import asyncio
import json
import logging
from decimal import Decimal

import httpx
import pytest
from teamledger_litellm import client as client_module
from teamledger_litellm.client import Misconfigured, Refused, Unreachable

TOKEN = "a" * 64


def reserve(ledger, amount=Decimal("0.05"), model="mock-gpt", request_id="req-1"):
    return asyncio.run(ledger.reserve(token=TOKEN, amount=amount, model=model,
                                      request_id=request_id))


def test_a_reserve_sends_the_call_and_the_plugins_key(server, make_ledger):
    # Given TeamLedger answering a reservation
    ledger = make_ledger(lease_s=120)
    # When a call is reserved
    answer = reserve(ledger)
    # Then one POST to /spend/reserve carried the token, amount, request id, lease and model
    (request,) = server.requests
    assert request.method == "POST"
    assert str(request.url) == "http://teamledger.test/spend/reserve"
    assert json.loads(request.content) == {"token": TOKEN, "amount": 0.05, "request_id": "req-1",
                                           "ttl_seconds": 120, "model": "mock-gpt"}
    # And it was authorized by TEAMLEDGER_KEY as a bearer token
    assert request.headers["authorization"] == f"Bearer {ledger.settings.key}"
    assert request.headers["content-type"] == "application/json"
    # And the caller gets TeamLedger's answer
    assert answer == server.reservation()


def test_a_reserve_without_a_model_sends_no_model(server, make_ledger):
    reserve(make_ledger(), amount=Decimal(0), model=None)
    (body,) = server.bodies()
    assert "model" not in body
    assert body["amount"] == 0


@pytest.mark.parametrize("amount", ["0.05", "0.0000000001", "123.4567890123", "0", "1000000",
                                    "0.0000012345"])
def test_the_amount_is_a_json_number_equal_to_the_decimal(server, make_ledger, amount):
    # Given an amount with up to 10 decimals (TeamLedger's unit)
    # When it is reserved
    reserve(make_ledger(), amount=Decimal(amount))
    # Then the body's amount is a JSON number (not a string) that reads back as that decimal
    sent = json.loads(server.requests[0].content, parse_float=Decimal, parse_int=Decimal)
    assert isinstance(sent["amount"], Decimal)
    assert sent["amount"] == Decimal(amount)


@pytest.mark.parametrize(("method", "args", "path", "body"), [
    ("settle", ("res-9", Decimal("0.0123")), "/spend/settle",
     {"reservation_id": "res-9", "spend": 0.0123}),
    ("release", ("res-9",), "/spend/release", {"reservation_id": "res-9"}),
])
def test_settle_and_release_send_the_reservation_id(server, make_ledger, method, args, path,
                                                    body):
    answer = asyncio.run(getattr(make_ledger(), method)(*args))
    (request,) = server.requests
    assert request.url.path == path
    assert json.loads(request.content) == body
    assert answer["reservation_id"] == "res-9"


def test_a_reserve_is_tried_again_after_connection_errors_with_the_same_body(
        server, make_ledger, sleeps):
    # Given TeamLedger unreachable twice, then answering
    server.answer("/spend/reserve", httpx.ConnectError("connection refused"),
                  httpx.ConnectError("connection refused"),
                  httpx.Response(200, json=server.reservation("res-after-retries")))
    # When a call is reserved
    answer = reserve(make_ledger(reserve_attempts=3, backoff_s=0.1))
    # Then the third try's answer is the reservation
    assert answer["reservation_id"] == "res-after-retries"
    # And every try sent the very same body (same request_id: TeamLedger answers one
    # reservation however many tries reach it)
    bodies = server.bodies("/spend/reserve")
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["request_id"] == "req-1"
    # And the client waited before each retry, not before the first try
    assert len(sleeps) == 2


def test_a_reserve_is_tried_again_after_a_5xx(server, make_ledger, sleeps):
    server.answer("/spend/reserve",
                  httpx.Response(503, json={"detail": {"error": "Service Unavailable"}}),
                  httpx.Response(502, text="Bad Gateway"),
                  httpx.Response(200, json=server.reservation("res-2")))
    assert reserve(make_ledger(reserve_attempts=5))["reservation_id"] == "res-2"
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_the_waits_between_tries_grow_and_never_pass_the_maximum(server, make_ledger, sleeps):
    # Given TeamLedger answering 503 on every try, a first wait of 0.1 s and at most 0.8 s
    server.answer("/spend/settle", httpx.Response(503))
    ledger = make_ledger(settle_attempts=7, backoff_s=0.1, max_backoff_s=0.8)
    # When a settle gives up
    with pytest.raises(Unreachable):
        asyncio.run(ledger.settle("res-1", Decimal("0.01")))
    # Then it waited 6 times, each step doubling from 0.1 s (with jitter: half to all of it)
    assert len(sleeps) == 6
    ceilings = [0.1, 0.2, 0.4, 0.8, 0.8, 0.8]
    for waited, ceiling in zip(sleeps, ceilings, strict=True):
        assert ceiling / 2 <= waited <= ceiling
    # So the waits grow until they reach the maximum
    assert sleeps[0] < sleeps[1] < sleeps[2] < sleeps[3]
    # And none is longer than the maximum
    assert max(sleeps) <= 0.8


def test_without_jitter_the_waits_double_up_to_the_maximum(server, make_ledger, sleeps,
                                                           monkeypatch):
    monkeypatch.setattr(client_module.random, "uniform", lambda low, high: high)
    server.answer("/spend/reserve", httpx.ConnectError("down"))
    with pytest.raises(Unreachable):
        reserve(make_ledger(reserve_attempts=6, backoff_s=0.25, max_backoff_s=3.0))
    assert sleeps == [0.25, 0.5, 1.0, 2.0, 3.0]


def test_a_reserve_gives_up_after_its_attempts(server, make_ledger, sleeps, caplog):
    # Given TeamLedger that never answers
    server.answer("/spend/reserve", httpx.ConnectTimeout("timed out"))
    ledger = make_ledger(reserve_attempts=4, settle_attempts=9)
    # When a call is reserved
    with caplog.at_level(logging.WARNING, logger="teamledger_litellm"), \
            pytest.raises(Unreachable) as unreachable:
        reserve(ledger)
    # Then it was tried TEAMLEDGER_RESERVE_ATTEMPTS times, always with the same body
    bodies = server.bodies("/spend/reserve")
    assert len(bodies) == 4
    assert all(body == bodies[0] for body in bodies)
    assert len(sleeps) == 3
    # And the error says where and why
    message = str(unreachable.value)
    assert "http://teamledger.test" in message
    assert "/spend/reserve" in message
    assert "4 tries" in message
    assert "ConnectTimeout" in message
    assert "/spend/reserve failed after 4 tries" in caplog.text


@pytest.mark.parametrize("method", ["settle", "release"])
def test_settle_and_release_use_the_settle_attempts(server, make_ledger, method):
    server.answer(f"/spend/{method}", httpx.Response(500))
    ledger = make_ledger(reserve_attempts=2, settle_attempts=5)
    args = ("res-1", Decimal("0.01")) if method == "settle" else ("res-1",)
    with pytest.raises(Unreachable, match="500 on /spend/"):
        asyncio.run(getattr(ledger, method)(*args))
    assert len(server.requests) == 5


@pytest.mark.parametrize(("status", "detail"), [
    (401, {"error": "Authentication Error, key unknown", "type": "invalid_user_key"}),
    (403, {"error": "model mock-gpt-large is not allowed", "type": "model_not_allowed"}),
    (429, {"error": "budget exceeded", "type": "budget_exceeded", "scope": "team",
           "remaining": 0.01}),
    (400, {"error": "amount must be a number", "type": "bad_request"}),
])
def test_a_4xx_about_the_call_is_a_refusal_and_is_not_tried_again(server, make_ledger, sleeps,
                                                                  status, detail):
    # Given TeamLedger refusing the call with a typed detail
    server.answer("/spend/reserve", httpx.Response(status, json={"detail": detail}))
    # When a call is reserved
    with pytest.raises(Refused) as refusal:
        reserve(make_ledger(reserve_attempts=5))
    # Then the refusal carries TeamLedger's status and detail
    assert refusal.value.status == status
    assert refusal.value.detail == detail
    assert refusal.value.kind == detail["type"]
    assert refusal.value.message == detail["error"]
    # And it was asked once: a refusal is an answer
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(("answer", "message"), [
    (httpx.Response(404, json={"detail": {"error": "reservation not found"}}),
     "reservation not found"),
    (httpx.Response(409, json={"detail": "reservation res-1 is released"}),
     "reservation res-1 is released"),
    (httpx.Response(413, text="Payload Too Large"), "Payload Too Large"),
    (httpx.Response(422, json={"detail": {"type": "validation"}}), "TeamLedger answered 422"),
])
def test_a_4xx_with_an_untyped_or_odd_detail_is_still_a_refusal(server, make_ledger, answer,
                                                                 message):
    server.answer("/spend/settle", answer)
    with pytest.raises(Refused) as refusal:
        asyncio.run(make_ledger().settle("res-1", Decimal("0.01")))
    assert refusal.value.status == answer.status_code
    assert refusal.value.message == message
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_401_or_403_without_a_type_means_the_plugins_own_key_is_wrong(server, make_ledger,
                                                                        sleeps, status):
    # Given TeamLedger refusing TEAMLEDGER_KEY itself (no detail type)
    server.answer("/spend/reserve",
                  httpx.Response(status, json={"detail": {"error": "route not allowed"}}))
    # When a call is reserved
    with pytest.raises(Misconfigured) as misconfigured:
        reserve(make_ledger(reserve_attempts=5))
    # Then the error is about the configuration, naming the variable and what TeamLedger said
    message = str(misconfigured.value)
    assert "TEAMLEDGER_KEY" in message
    assert str(status) in message
    assert "route not allowed" in message
    assert "/spend/*" in message
    # And it is not retried
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(("method", "args", "lost"), [
    ("settle", ("res-7", Decimal("0.0321")), httpx.ReadTimeout("read timed out")),
    ("settle", ("res-7", Decimal("0.0321")), httpx.RemoteProtocolError("server disconnected")),
    ("release", ("res-7",), httpx.ReadTimeout("read timed out")),
    ("release", ("res-7",), httpx.ReadError("connection reset")),
])
def test_a_settle_or_release_whose_answer_was_lost_is_sent_again_unchanged(
        server, make_ledger, method, args, lost):
    # Given TeamLedger that applies the first request but whose answer never arrives
    applied: list[dict] = []

    def apply_then_lose_the_answer(request):
        applied.append(json.loads(request.content))
        if len(applied) == 1:
            raise lost
        return httpx.Response(200, json={"reservation_id": "res-7", "state": "done"})

    server.answer(f"/spend/{method}", apply_then_lose_the_answer)
    # When the settle or release is made
    answer = asyncio.run(getattr(make_ledger(), method)(*args))
    # Then it was sent again, identical (idempotent by reservation id), and the second answer
    # is the result
    assert len(applied) == 2
    assert applied[0] == applied[1]
    assert applied[0]["reservation_id"] == "res-7"
    assert answer == {"reservation_id": "res-7", "state": "done"}


def test_one_client_serves_calls_from_separate_event_loops(server, make_ledger):
    # Given one TeamLedger used from two event loops one after the other (asyncio.run each)
    ledger = make_ledger()
    # When each reserves
    first = reserve(ledger, request_id="req-a")
    second = reserve(ledger, request_id="req-b")
    # Then both are answered
    assert first == second == server.reservation()
    assert [body["request_id"] for body in server.bodies()] == ["req-a", "req-b"]


def test_a_success_whose_body_is_not_json_is_tried_again(server, make_ledger):
    # Given a TeamLedger (or a proxy before it) answering 200 with HTML, then the reservation
    server.answer("/spend/reserve", httpx.Response(200, text="<html>gateway</html>"),
                  httpx.Response(200, json=server.reservation()))
    # When a call is reserved
    answer = reserve(make_ledger(reserve_attempts=2))
    # Then the second try's answer is taken
    assert answer == server.reservation()
    assert server.paths() == ["/spend/reserve", "/spend/reserve"]


def test_only_answers_that_are_not_json_end_unreachable(server, make_ledger):
    server.answer("/spend/reserve", httpx.Response(200, text="<html>gateway</html>"))
    with pytest.raises(Unreachable, match="not JSON"):
        reserve(make_ledger(reserve_attempts=2))
