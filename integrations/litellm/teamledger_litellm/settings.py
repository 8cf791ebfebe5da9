"""The plugin's settings, from the proxy's environment, read once (`Settings.from_env`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting that is missing or malformed: the proxy refuses every call until it is fixed."""


@dataclass(frozen=True)
class Settings:
    # Each field's variable is named in from_env.
    url: str                    # the API's base, e.g. https://…/ or http://127.0.0.1:3000
    key: str                    # a key allowed on /spend/* (never logged)
    fail_open: bool             # let calls through, uncharged, while TeamLedger is unreachable
    timeout_s: float            # one HTTP request to TeamLedger
    reserve_attempts: int       # tries of a reserve before the call is refused
    settle_attempts: int        # tries of a settle or release
    backoff_s: float            # first wait between tries, doubled each time
    max_backoff_s: float        # the longest wait between tries
    lease_s: int                # how long a reservation holds if never settled
    default_input_cost: Decimal   # USD per prompt token of a model nobody priced
    default_output_cost: Decimal  # USD per output token of a model nobody priced
    default_max_output_tokens: int  # the output cap with no max_tokens and no known maximum

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        url = env.get("TEAMLEDGER_URL", "").strip().rstrip("/")
        key = env.get("TEAMLEDGER_KEY", "").strip()
        if not url.startswith(("http://", "https://")):
            raise SettingsError("TEAMLEDGER_URL is not set to the TeamLedger API's http(s) address")
        if not key:
            raise SettingsError("TEAMLEDGER_KEY is not set (a TeamLedger key allowed on /spend/*)")
        return cls(
            url=url,
            key=key,
            fail_open=_flag(env, "TEAMLEDGER_FAIL_OPEN"),
            timeout_s=_number(env, "TEAMLEDGER_TIMEOUT", 5.0, low=0.1, high=120),
            reserve_attempts=_count(env, "TEAMLEDGER_RESERVE_ATTEMPTS", 3, high=20),
            settle_attempts=_count(env, "TEAMLEDGER_SETTLE_ATTEMPTS", 10, high=100),
            backoff_s=_number(env, "TEAMLEDGER_BACKOFF", 0.2, low=0, high=60),
            max_backoff_s=_number(env, "TEAMLEDGER_MAX_BACKOFF", 30.0, low=0, high=600),
            lease_s=_count(env, "TEAMLEDGER_LEASE_SECONDS", 600, high=3600),
            default_input_cost=_price(env, "TEAMLEDGER_DEFAULT_INPUT_COST_PER_TOKEN", "0.00001"),
            default_output_cost=_price(env, "TEAMLEDGER_DEFAULT_OUTPUT_COST_PER_TOKEN", "0.00003"),
            default_max_output_tokens=_count(
                env, "TEAMLEDGER_DEFAULT_MAX_OUTPUT_TOKENS", 4096, high=10**7),
        )


def _flag(env: dict[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _number(env: dict[str, str], name: str, default: float, *, low: float, high: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {text!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be from {low:g} to {high:g}, not {text}")
    return value


def _count(env: dict[str, str], name: str, default: int, *, high: int) -> int:
    value = _number(env, name, default, low=1, high=high)
    if not value.is_integer():
        raise SettingsError(f"{name} must be a whole number, not {env[name].strip()}")
    return int(value)


def _price(env: dict[str, str], name: str, default: str) -> Decimal:
    text = env.get(name, "").strip() or default
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SettingsError(f"{name} must be a number of USD per token, not {text!r}") from None
    if not value.is_finite() or value < 0:
        raise SettingsError(f"{name} must be a finite number >= 0, not {text}")
    return value
