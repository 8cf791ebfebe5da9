"""Opaque page cursors: a short JSON list, base64url without padding. What a cursor means is
up to its route; here only the wrapping and the refusal of anything that does not unwrap."""

import base64
import binascii
import json
from typing import Any

MAX_CURSOR = 2048


def encode(values: list[object]) -> str:
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(text: str) -> list[Any] | None:
    """The list inside a cursor, or None if `text` is not one. Its values are whatever JSON
    held (Any): each route checks them one by one before use."""
    if len(text) > MAX_CURSOR:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return values if isinstance(values, list) else None
