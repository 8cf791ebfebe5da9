"""Data as earlier versions of the layer wrote it, for tests of how the layer reads it now."""

from typing import Any


def user_without_email_item(user_id: str, user_email: str, **fields: Any) -> None:
    """A user row as the layer wrote it before emails had items of their own (GSI2 only), in
    the table TABLE_NAME names: so two such users can share an email, as they could then."""
    from teamledger.store import keys, table

    written = table.put_new(keys.user(user_id) | keys.user_index(user_id, user_email) | {
        "entity": "user", "user_id": user_id, "user_email": user_email,
        "user_role": "internal_user", "models": [], "metadata": {},
        "created_at": "2026-01-01T00:00:00.000000Z"} | fields)
    assert written, f"user {user_id} exists"
