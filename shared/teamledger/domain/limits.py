"""Business rules on numbers and values (400s) and the storable-JSON check (422)."""

import math
from typing import Any

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
    if value is not None and not (math.isfinite(value) and value == int(value)
                                  and 0 <= value <= MAX_LIMIT):
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


def storable_json(value: Any, depth: int = 0) -> Any:
    """Metadata must be storable as-is: finite numbers, bounded nesting."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, float) and not (value == 0 or 1e-130 < abs(value) < 1e125):
        raise ValueError("numbers must be finite and within 1e-130 .. 1e125")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**38:
        raise ValueError("numbers must have at most 38 digits")
    if isinstance(value, dict):
        for item in value.values():
            storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            storable_json(item, depth + 1)
    return value
