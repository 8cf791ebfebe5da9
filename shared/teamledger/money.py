"""Money as stored: whole units of 1e-10 USD (`UNIT` per dollar), in DynamoDB numbers that are
integers, so a total is exact whatever it adds and is never written with an exponent.

The wire speaks USD as JSON numbers. A reservation rounds up (`units_up`), so a held amount is
never less than asked; spend and budgets round to the nearest unit (`units`).
"""

import math
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

UNIT = 10**10  # units per USD
MAX_UNITS = 10**25  # 1e15 USD: far beyond any budget, far inside DynamoDB's 38 digits


def _decimal(usd: float | int | Decimal) -> Decimal:
    if isinstance(usd, float) and not math.isfinite(usd):
        raise ValueError("not a finite amount")
    # repr() is the shortest text that reads back as the same float: 0.1 is 0.1, not
    # 0.1000000000000000055...
    return usd if isinstance(usd, Decimal) else Decimal(repr(usd) if isinstance(usd, float)
                                                        else usd)


def units(usd: float | int | Decimal) -> int:
    return int((_decimal(usd) * UNIT).to_integral_value(ROUND_HALF_EVEN))


def units_up(usd: float | int | Decimal) -> int:
    return int((_decimal(usd) * UNIT).to_integral_value(ROUND_CEILING))


def usd(amount: int | Decimal | None) -> float:
    """Units as USD for an answer (a float: what JSON clients expect)."""
    return float(Decimal(int(amount or 0)) / UNIT)
