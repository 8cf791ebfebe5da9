"""Business rules on numbers and values (400s) and the storable-JSON check (422)."""

import math
from typing import Any

from teamledger import sizes
from teamledger.domain.durations import BudgetPeriod
from teamledger.errors import BadRequest

MAX_AMOUNT = 1e15
MIN_AMOUNT = 1e-130  # DynamoDB stores no smaller non-zero number: below it, a 400, not a 503
MAX_LIMIT = 10**15
MAX_DEPTH = 32


def check_budget(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_AMOUNT
                                  and not 0 < value < MIN_AMOUNT):
        raise BadRequest(f"{name} must be 0 or a finite number between {MIN_AMOUNT:.0e} "
                         f"and {MAX_AMOUNT:.0e}")


def check_limit(name: str, value: float | None) -> None:
    """Limits arrive as numbers (so NaN is a 400, not a 422) and must be whole."""
    # A JSON integer may be far beyond a float: compare it as an integer (isfinite would raise).
    if value is not None and not (0 <= value <= MAX_LIMIT and math.isfinite(value)
                                  and value == int(value)):
        raise BadRequest(f"{name} must be a whole number between 0 and {MAX_LIMIT}")


def check_numbers(request: Any, budgets: tuple[str, ...] = ("max_budget",),
                  limits: tuple[str, ...] = ("tpm_limit", "rpm_limit",
                                             "max_parallel_requests")) -> None:
    for name in budgets:
        if hasattr(request, name):
            check_budget(name, getattr(request, name))
    for name in limits:
        if hasattr(request, name):
            check_limit(name, getattr(request, name))


def parse_duration(text: str | None, field: str = "budget_duration") -> BudgetPeriod | None:
    """`field` names the request field in the 400, so the caller knows which one is wrong."""
    return None if text is None else BudgetPeriod.parse(text, field)


# What each value stored as JSON may take, as compact JSON (sizes.json_size): room enough for
# the record of a change of all of them at once, which holds the old and the new values.
JSON_CAPS = {"metadata": sizes.METADATA_BYTES, "model_aliases": sizes.MODEL_ALIASES_BYTES,
             "models": sizes.MODELS_BYTES}


def check_json_sizes(**values: Any) -> None:
    """The values as they are to be stored (metadata with its tags and guardrails, a team's
    models after an add) within their caps, else 400 naming the field; None is nothing."""
    for name, value in values.items():
        size = 0 if value is None else sizes.json_size(value)
        if size > JSON_CAPS[name]:
            raise BadRequest(f"{name} is {size:,} bytes as JSON; it may be at most "
                             f"{JSON_CAPS[name]:,}")


def _encodable(text: str) -> None:
    """A lone surrogate (JSON's "\ud800") is no UTF-8 text: DynamoDB cannot store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("strings must be valid Unicode (no lone surrogates)") from None


def storable_json(value: Any, depth: int = 0) -> Any:
    """Metadata must be storable as-is: finite numbers, bounded nesting, no empty key (an
    object is a DynamoDB map, which refuses an empty attribute name at any depth)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, float) and not (value == 0 or 1e-130 < abs(value) < 1e125):
        raise ValueError("numbers must be finite and within 1e-130 .. 1e125")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**38:
        raise ValueError("numbers must have at most 38 digits")
    if isinstance(value, str):
        _encodable(value)
    if isinstance(value, dict):
        if "" in value:
            raise ValueError("object keys must not be empty")
        for key, item in value.items():
            _encodable(key)
            storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            storable_json(item, depth + 1)
    return value
