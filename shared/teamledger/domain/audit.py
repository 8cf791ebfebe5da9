"""What an AuditLog record says about a change: written by the stores inside the transaction
of the change itself, so the log holds exactly the changes that committed."""

import os
import uuid
from datetime import timedelta
from typing import Any

from teamledger.domain.callers import Actor
from teamledger.store import stores
from teamledger.store.table import Transaction
from teamledger.timestamps import to_iso, utcnow

TEAM_TABLE = "LiteLLM_TeamTable"
MEMBERSHIP_TABLE = "LiteLLM_TeamMembership"
USER_TABLE = "LiteLLM_UserTable"
KEY_TABLE = "LiteLLM_VerificationToken"

CREATED, UPDATED, DELETED, BLOCKED, UNBLOCKED = (
    "created", "updated", "deleted", "blocked", "unblocked")


def membership_id(team_id: str, user_id: str) -> str:
    return f"{team_id}:{user_id}"


def _retention() -> timedelta:
    return timedelta(days=int(os.environ.get("AUDIT_RETENTION_DAYS", "90")))


def record(tx: Transaction, actor: Actor | None, action: str, table_name: str,
           object_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
           changed_by: str | None = None) -> None:
    """`changed_by` names a changer without a key (the budget reset job)."""
    now = utcnow()
    stores().audit.record(tx, {
        "id": str(uuid.uuid4()),
        "updated_at": to_iso(now),
        "changed_by": actor.changed_by if actor else changed_by,
        "changed_by_api_key": actor.caller.token if actor else None,
        "action": action,
        "table_name": table_name,
        "object_id": object_id,
        "before_value": before,
        "updated_values": after or {},
        "ttl": int((now + _retention()).timestamp()),
    })


def changed_fields(before: dict[str, Any],
                   after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose values differ, as (before_value, updated_values)."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
