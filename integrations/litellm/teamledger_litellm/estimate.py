"""A call's worst-case cost, before it is made: what `/spend/reserve` holds.

worst case = prompt tokens × input price + n × output cap × output price, where
- the prompt tokens are counted by LiteLLM's token counter for the model;
- the output cap is the request's `max_tokens` (or `max_completion_tokens`,
  `max_output_tokens`), never more than the model's max output, else the model's max output,
  else `TEAMLEDGER_DEFAULT_MAX_OUTPUT_TOKENS`;
- the prices are the proxy's deployment of the model (its `litellm_params` or `model_info`, the
  dearest deployment of the group), else LiteLLM's cost map, else the configured defaults.

Amounts are Decimals, rounded up to TeamLedger's unit (1e-10 USD), so the estimate is exact:
a call whose actual tokens reach the cap costs exactly what was held.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

import litellm

from teamledger_litellm.settings import Settings

UNIT = Decimal("1e-10")
OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
NO_OUTPUT_ROUTES = ("embeddings", "moderations")
PRICE_TTL_S = 60.0


@dataclass(frozen=True)
class Prices:
    input_per_token: Decimal
    output_per_token: Decimal
    max_output_tokens: int | None


def decimal(value: Any) -> Decimal | None:
    """A price as an exact Decimal (a float by its shortest repr: 0.001 is 0.001)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() and number >= 0 else None


def whole(value: Any) -> int | None:
    """A token count (LiteLLM's model info may say 100.0), or None unless a positive whole."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value > 0 and float(value).is_integer() else None


def worst_case(model: str, body: dict[str, Any], route: str, prices: Prices,
               default_max_output: int) -> Decimal:
    prompt = Decimal(prompt_tokens(model, body))
    outputs = 0 if route.rstrip("/").endswith(NO_OUTPUT_ROUTES) else output_cap(
        body, prices.max_output_tokens, default_max_output) * choices(body)
    cost = prompt * prices.input_per_token + Decimal(outputs) * prices.output_per_token
    return cost.quantize(UNIT, rounding=ROUND_CEILING)


def output_cap(body: dict[str, Any], model_max: int | None, default_max: int) -> int:
    for name in OUTPUT_CAPS:
        asked = whole(body.get(name))
        if asked is not None:
            return min(asked, model_max) if model_max else asked
    return model_max or default_max


def choices(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def prompt_tokens(model: str, body: dict[str, Any]) -> int:
    """The prompt's tokens by LiteLLM's counter; a body it cannot count is counted as JSON text
    (more tokens than the prompt, never fewer)."""
    try:
        messages = body.get("messages")
        if isinstance(messages, list):
            system = body.get("system")  # Anthropic's /v1/messages keeps it apart
            if system:
                messages = [{"role": "system", "content": system}, *messages]
            tools = body.get("tools") if isinstance(body.get("tools"), list) else None
            return int(litellm.token_counter(model=model, messages=messages, tools=tools))
        text = next((body[name] for name in ("prompt", "input") if name in body), None)
        if isinstance(text, str):
            return int(litellm.token_counter(model=model, text=text))
        if isinstance(text, list) and all(isinstance(part, str) for part in text):
            return sum(int(litellm.token_counter(model=model, text=part)) for part in text)
    except Exception:  # noqa: BLE001 - any content the counter can't read falls back below
        pass
    payload = {name: value for name, value in body.items()
               if name in ("messages", "prompt", "input", "system", "tools", "contents")}
    return int(litellm.token_counter(model=model, text=json.dumps(payload, default=str)))


class PriceBook:
    """Prices per model, read from the proxy's router (or LiteLLM's cost map), kept a minute."""

    def __init__(self, settings: Settings, router: Any = None) -> None:
        self.settings = settings
        self._router = router
        self._cache: dict[str, tuple[float, Prices]] = {}

    def prices(self, model: str) -> Prices:
        now = time.monotonic()
        cached = self._cache.get(model)
        if cached is not None and now - cached[0] < PRICE_TTL_S:
            return cached[1]
        prices = self._lookup(model)
        self._cache[model] = (now, prices)
        return prices

    def _lookup(self, model: str) -> Prices:
        info = self._group_info(model) or self._cost_map(model) or {}
        input_price = decimal(info.get("input_cost_per_token"))
        output_price = decimal(info.get("output_cost_per_token"))
        max_output = whole(info.get("max_output_tokens")) or whole(info.get("max_tokens"))
        return Prices(
            input_per_token=self.settings.default_input_cost if input_price is None
            else input_price,
            output_per_token=self.settings.default_output_cost if output_price is None
            else output_price,
            max_output_tokens=max_output)

    def _group_info(self, model: str) -> dict[str, Any] | None:
        router = self._router if self._router is not None else proxy_router()
        if router is None:
            return None
        try:
            group = router.get_model_group_info(model_group=model)
        except Exception:  # noqa: BLE001 - an unknown group is priced from the cost map
            return None
        if group is None:
            return None
        found: dict[str, Any] = group.model_dump() if hasattr(group, "model_dump") else dict(group)
        return found

    @staticmethod
    def _cost_map(model: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = dict(litellm.get_model_info(model=model))
        except Exception:  # noqa: BLE001 - LiteLLM raises for a model it does not know
            return None
        return found


def proxy_router() -> Any:
    try:
        from litellm.proxy import proxy_server
    except ImportError:
        return None
    return getattr(proxy_server, "llm_router", None)
