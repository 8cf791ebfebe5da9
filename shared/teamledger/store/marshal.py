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
    # Never an exponent, whatever the type (DynamoDB takes one, but moto's ADD cannot parse
    # "1e-10": a sum stored so wedged every later ADD, issue 13): a float as the shortest
    # decimal that reads back as it, with a fraction so that it reads back as a float (1e16
    # is "10000000000000000.0", not an int); a Decimal as its digits.
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text if "." in text else f"{text}.0"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


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


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it against its 400 KB, from the wire form, rounded up
    so that it bounds moto's count too: names and text in UTF-8, a number as its digits plus
    one (DynamoDB: about one byte per two digits, plus one), 3 bytes per map or list and 1 per
    element of it."""
    return sum(_text_size(name) + attr_size(value) for name, value in item.items())


def attr_size(attr: dict[str, Any]) -> int:
    (kind, value), = attr.items()
    if kind == "S":
        return _text_size(value)
    if kind == "N":
        return len(value) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(_text_size(k) + attr_size(v) + 1 for k, v in value.items())
    if kind == "L":
        return 3 + sum(attr_size(v) + 1 for v in value)
    if kind == "SS":
        return sum(_text_size(v) for v in value)
    if kind == "NS":
        return sum(len(v) + 1 for v in value)
    if kind == "BS":
        return sum(len(v) for v in value)
    return len(value)  # B


def _text_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
