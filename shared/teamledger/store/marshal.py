"""Plain Python values <-> DynamoDB attribute values (the low-level client's wire form)."""

import math
from decimal import Decimal
from typing import Any

Item = dict[str, Any]


def to_attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("non-finite number")
        return {"N": _number_text(value)}
    if isinstance(value, dict):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def _number_text(value: int | float | Decimal) -> str:
    # The shortest decimal that reads back as the same float, without an exponent: DynamoDB
    # takes either, but moto's ADD cannot parse "1e-10".
    return format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)


def from_attr(attr: dict[str, Any]) -> Any:
    (kind, value), = attr.items()
    if kind in ("S", "BOOL"):
        return value
    if kind == "N":
        return _number(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [from_attr(v) for v in value]
    raise TypeError(f"unexpected attribute type {kind}")


def _number(text: str) -> int | float:
    number = Decimal(text)
    if number == number.to_integral_value() and "." not in text and "E" not in text.upper():
        return int(number)
    return float(number)


def to_item(values: Item) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> Item:
    return {k: from_attr(v) for k, v in item.items()}
