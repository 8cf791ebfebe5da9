"""A call's worst-case cost before it is made: tokens, output caps, prices, rounding."""

import json
from decimal import ROUND_CEILING, Decimal

import litellm
import pytest
from teamledger_litellm import estimate
from teamledger_litellm.estimate import (
    UNIT,
    PriceBook,
    Prices,
    decimal,
    output_cap,
    prompt_tokens,
    whole,
    worst_case,
)

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "How many moons does Mars have, and what are they?"}]
CHAT = "/chat/completions"


def tokens_of(messages, model=MODEL):
    return litellm.token_counter(model=model, messages=messages)


class BrokenRouter:
    def get_model_group_info(self, model_group: str):
        raise RuntimeError("router not ready")


def test_the_worst_case_is_prompt_tokens_times_input_plus_output_cap_times_output():
    # Given a chat call capped at 100 output tokens and a model priced per token
    prices = Prices(Decimal("0.001"), Decimal("0.002"), max_output_tokens=16384)
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 100}
    # When its worst case is estimated
    cost = worst_case(MODEL, body, CHAT, prices, default_max_output=4096)
    # Then it is exactly the prompt's tokens at the input price plus the cap at the output price
    prompt = tokens_of(MESSAGES)
    assert prompt > 10
    assert cost == prompt * Decimal("0.001") + 100 * Decimal("0.002")


def test_the_worst_case_is_rounded_up_to_teamledgers_unit():
    # Given prices with more decimals than TeamLedger keeps (1e-10 USD)
    prices = Prices(Decimal("0.0000000000123"), Decimal("0.0000000000071"), None)
    body = {"messages": MESSAGES, "max_tokens": 7}
    # When the worst case is estimated
    cost = worst_case(MODEL, body, CHAT, prices, default_max_output=4096)
    # Then it is the exact cost rounded UP to a whole number of 1e-10
    exact = tokens_of(MESSAGES) * Decimal("0.0000000000123") + 7 * Decimal("0.0000000000071")
    assert exact % UNIT != 0  # the rounding is visible
    assert cost == (exact / UNIT).to_integral_value(ROUND_CEILING) * UNIT
    assert exact < cost < exact + UNIT
    assert cost.as_tuple().exponent == -10


def test_a_sliver_above_a_unit_still_rounds_up():
    # Given an input price a hair above 1e-10 per token (the sliver is < 0.1 unit in total)
    prices = Prices(Decimal("0.00000000010001"), Decimal(0), None)
    body = {"messages": MESSAGES, "max_tokens": 1}
    tokens = tokens_of(MESSAGES)
    assert tokens < 1000
    # When the worst case is estimated
    cost = worst_case(MODEL, body, CHAT, prices, default_max_output=4096)
    # Then it is one whole unit more than the tokens' whole units: never rounded down
    assert cost == (tokens + 1) * UNIT


@pytest.mark.parametrize(("asked", "expected"), [(5000, 100), (100, 100), (40, 40)])
def test_max_tokens_is_capped_by_the_models_max_output(asked, expected):
    # Given a model whose output stops at 100 tokens
    prices = Prices(Decimal(0), Decimal("0.5"), max_output_tokens=100)
    # When a call asks for more (or less)
    cost = worst_case(MODEL, {"messages": MESSAGES, "max_tokens": asked}, CHAT, prices, 4096)
    # Then the hold covers what the model can produce, no more
    assert cost == expected * Decimal("0.5")


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens", "max_output_tokens"])
def test_every_name_of_the_output_cap_is_honoured(name):
    assert output_cap({name: 321}, model_max=1000, default_max=4096) == 321
    assert output_cap({name: 321.0}, model_max=None, default_max=4096) == 321
    assert output_cap({name: 2000}, model_max=1000, default_max=4096) == 1000


@pytest.mark.parametrize("asked", [None, 0, -5, 2.5, "100", True])
def test_without_a_usable_cap_the_models_max_output_then_the_default_is_held(asked):
    body = {} if asked is None else {"max_tokens": asked}
    # With a known max output: the model's
    assert output_cap(body, model_max=777, default_max=4096) == 777
    # Without one: TEAMLEDGER_DEFAULT_MAX_OUTPUT_TOKENS
    assert output_cap(body, model_max=None, default_max=4096) == 4096


def test_no_cap_and_no_known_max_holds_the_default_output():
    prices = Prices(Decimal(0), Decimal("0.01"), max_output_tokens=None)
    cost = worst_case(MODEL, {"messages": MESSAGES}, CHAT, prices, default_max_output=250)
    assert cost == Decimal("2.5")


@pytest.mark.parametrize(("n", "outputs"), [(3, 3), (1, 1), (0, 1), (None, 1), (True, 1),
                                            ("4", 1), (2.0, 1)])
def test_n_choices_multiply_the_output(n, outputs):
    # Given a call asking for n answers of at most 10 tokens each
    prices = Prices(Decimal(0), Decimal("1"), max_output_tokens=None)
    body = {"messages": MESSAGES, "max_tokens": 10}
    if n is not None:
        body["n"] = n
    # Then n outputs are held (an n that is not a whole number above 1 counts as one)
    assert worst_case(MODEL, body, CHAT, prices, 4096) == Decimal(10 * outputs)


@pytest.mark.parametrize("route", ["/v1/embeddings", "/embeddings", "/embeddings/",
                                   "/openai/deployments/emb/embeddings", "/v1/moderations"])
def test_embeddings_and_moderations_hold_no_output(route):
    # Given a route whose answer has no generated tokens
    prices = Prices(Decimal("0.001"), Decimal("1000"), max_output_tokens=8000)
    body = {"model": "text-embedding-3-small", "input": "the quick brown fox"}
    # When its worst case is estimated
    cost = worst_case("text-embedding-3-small", body, route, prices, 4096)
    # Then it is the input only
    tokens = litellm.token_counter(model="text-embedding-3-small", text="the quick brown fox")
    assert cost == tokens * Decimal("0.001")


def test_a_prompt_text_and_a_list_of_texts_are_counted():
    one = litellm.token_counter(model=MODEL, text="complete this sentence")
    two = litellm.token_counter(model=MODEL, text="and this other one, a little longer")
    assert prompt_tokens(MODEL, {"prompt": "complete this sentence"}) == one
    assert prompt_tokens(MODEL, {"input": ["complete this sentence",
                                           "and this other one, a little longer"]}) == one + two


def test_an_anthropic_system_prompt_is_counted():
    # Given /v1/messages, where the system prompt is beside the messages
    messages = [{"role": "user", "content": "Hi"}]
    system = "You are a meticulous assistant who always answers in exactly three sentences."
    # Then its tokens are part of the prompt
    assert prompt_tokens(MODEL, {"messages": messages, "system": system}) == tokens_of(
        [{"role": "system", "content": system}, *messages])
    assert prompt_tokens(MODEL, {"messages": messages, "system": system}) > tokens_of(messages)


def test_tools_are_counted_in_the_prompt():
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city, today and tomorrow",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    with_tools = prompt_tokens(MODEL, {"messages": MESSAGES, "tools": tools})
    assert with_tools > prompt_tokens(MODEL, {"messages": MESSAGES})


def test_a_body_the_counter_cannot_read_falls_back_to_its_json_and_still_counts():
    # Given messages LiteLLM's token counter refuses (a content part of an unknown type)
    words = "lorem ipsum dolor sit amet " * 20
    messages = [{"role": "user", "content": [{"type": "hologram", "text": words}]}]
    with pytest.raises(Exception):  # noqa: B017 - whatever the counter raises
        litellm.token_counter(model=MODEL, messages=messages)
    body = {"model": MODEL, "messages": messages, "temperature": 0}
    # When the prompt is counted
    counted = prompt_tokens(MODEL, body)
    # Then it is the JSON text of the prompt's fields, at least the words it holds
    assert counted == litellm.token_counter(model=MODEL,
                                            text=json.dumps({"messages": messages}))
    assert counted >= litellm.token_counter(model=MODEL, text=words) > 0
    # And the estimate holds for those tokens
    prices = Prices(Decimal("0.001"), Decimal(0), None)
    assert worst_case(MODEL, body, CHAT, prices, 4096) == counted * Decimal("0.001")


def test_a_gemini_prompt_in_contents_is_counted():
    # Given Google's generateContent body: the prompt is in "contents", not "messages"
    words = "lorem ipsum dolor sit amet " * 20
    body = {"contents": [{"role": "user", "parts": [{"text": words}]}],
            "generationConfig": {"temperature": 0}}
    # Then its tokens are counted, never fewer than the text's
    assert prompt_tokens(MODEL, body) >= litellm.token_counter(model=MODEL, text=words)


@pytest.mark.parametrize("body", [{"messages": [42, "hi"]}, {"input": [[1, 2, 3]]}, {}])
def test_other_unreadable_bodies_still_count_some_tokens(body):
    assert prompt_tokens(MODEL, body) > 0


@pytest.mark.parametrize(("value", "expected"), [
    (100.0, 100), (100, 100), (1, 1), (0, None), (-5, None), (1.5, None), (True, None),
    (False, None), ("100", None), (None, None), (float("inf"), None), (float("nan"), None),
])
def test_whole_reads_token_counts_as_litellm_writes_them(value, expected):
    found = whole(value)
    assert found == expected
    if expected is not None:
        assert type(found) is int


@pytest.mark.parametrize(("value", "expected"), [
    (0.001, "0.001"), (1.5e-07, "1.5E-7"), (0.1, "0.1"), (3, "3"), ("0.00000025", "0.00000025"),
    (Decimal("0.002"), "0.002"), (0.0, "0.0"),
])
def test_decimal_reads_prices_exactly(value, expected):
    found = decimal(value)
    assert found == Decimal(expected)
    # the same digits, not the float's binary expansion (0.001000000000000000020816...)
    assert found.as_tuple() == Decimal(expected).as_tuple()


@pytest.mark.parametrize("value", [None, True, -0.001, "cheap", float("nan"), float("inf")])
def test_decimal_is_none_for_what_is_not_a_price(value):
    assert decimal(value) is None


def test_prices_come_from_the_proxys_model_group(make_settings, make_router):
    # Given the proxy's router pricing mock-gpt at 0.001 / 0.002 with 100 output tokens
    router = make_router({"mock-gpt": {"input_cost_per_token": 0.001,
                                       "output_cost_per_token": 0.002,
                                       "max_output_tokens": 100}})
    # When its prices are looked up
    prices = PriceBook(make_settings(), router=router).prices("mock-gpt")
    # Then they are the group's, as exact decimals (0.001 is not 0.00100000000000000002...)
    assert prices == Prices(Decimal("0.001"), Decimal("0.002"), 100)
    assert str(prices.input_per_token) == "0.001"
    assert router.asked == ["mock-gpt"]


def test_a_model_the_router_does_not_serve_is_priced_from_litellms_cost_map(make_settings,
                                                                          make_router):
    # Given a router with no group for gpt-4o-mini
    router = make_router()
    # When its prices are looked up
    prices = PriceBook(make_settings(), router=router).prices(MODEL)
    # Then they are LiteLLM's cost map's, exactly
    info = litellm.get_model_info(model=MODEL)
    assert prices == Prices(Decimal(repr(info["input_cost_per_token"])),
                            Decimal(repr(info["output_cost_per_token"])),
                            int(info["max_output_tokens"]))
    assert prices.input_per_token > 0
    assert router.asked == [MODEL]


def test_a_router_that_fails_falls_back_to_the_cost_map(make_settings):
    prices = PriceBook(make_settings(), router=BrokenRouter()).prices(MODEL)
    assert prices.input_per_token == decimal(litellm.get_model_info(model=MODEL)[
        "input_cost_per_token"])


def test_a_model_nobody_priced_gets_the_configured_defaults(make_settings, make_router):
    # Given a model neither the router nor LiteLLM knows
    settings = make_settings(default_input_cost=Decimal("0.000004"),
                             default_output_cost=Decimal("0.000016"))
    # When its prices are looked up
    prices = PriceBook(settings, router=make_router()).prices("in-house-llm-7b")
    # Then they are TEAMLEDGER_DEFAULT_*_COST_PER_TOKEN, and no max output is known
    assert prices == Prices(Decimal("0.000004"), Decimal("0.000016"), None)


def test_a_group_without_prices_gets_the_defaults_for_what_it_lacks(make_settings, make_router):
    router = make_router({"half": {"input_cost_per_token": 0.002}})
    prices = PriceBook(make_settings(), router=router).prices("half")
    assert prices == Prices(Decimal("0.002"), Decimal("0.00003"), None)


def test_a_free_model_is_free_not_defaulted(make_settings, make_router):
    router = make_router({"free": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
                                   "max_output_tokens": 50}})
    prices = PriceBook(make_settings(), router=router).prices("free")
    assert prices == Prices(Decimal(0), Decimal(0), 50)


def test_prices_are_kept_a_minute_then_read_again(make_settings, make_router, monkeypatch):
    # Given a price book that read mock-gpt's prices
    now = [1000.0]
    monkeypatch.setattr(estimate.time, "monotonic", lambda: now[0])
    router = make_router({"mock-gpt": {"input_cost_per_token": 0.001}})
    book = PriceBook(make_settings(), router=router)
    assert book.prices("mock-gpt").input_per_token == Decimal("0.001")
    # When the proxy's price changes
    router.groups["mock-gpt"] = {"input_cost_per_token": 0.003}
    # Then within the minute the old price holds, without asking the router
    now[0] += 59
    assert book.prices("mock-gpt").input_per_token == Decimal("0.001")
    assert router.asked == ["mock-gpt"]
    # And after it the new price is read
    now[0] += 2
    assert book.prices("mock-gpt").input_per_token == Decimal("0.003")
    assert router.asked == ["mock-gpt", "mock-gpt"]
