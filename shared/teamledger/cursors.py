"""Opaque page cursors: a short JSON list, base64url without padding. What a cursor means is
up to its route; here only the wrapping and the refusal of anything that does not unwrap."""

import base64
import binascii
import json
import math
from typing import Any

MAX_CURSOR = 2048


def encode(values: list[object]) -> str:
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(text: str) -> list[Any] | None:
    """The list inside a cursor, or None if `text` is not one; never an exception, whatever
    the text. A cursor is a flat list of JSON scalars (null, booleans, finite numbers, text
    that UTF-8 can hold): anything else, nested lists or objects included, is None. Its values
    are whatever JSON held (Any): each route checks them one by one before use."""
    if len(text) > MAX_CURSOR:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        # RecursionError: JSON nested deeper than the interpreter's stack (a 2 KB cursor can
        # nest 1,536 levels); ValueError covers bad base64, JSON and NaN/Infinity.
        return None
    if not isinstance(values, list) or not all(_scalar(v) for v in values):
        return None
    return values


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a cursor's value")


def _scalar(value: Any) -> bool:
    if isinstance(value, str):  # JSON's "\ud800" is a lone surrogate: no UTF-8, no key
        return not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, float):  # 1e999 is JSON too, and infinite
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int))
