"""AuditLog items (API.md), written inside the transaction of the change they describe."""

import os
import uuid
from datetime import timedelta

from teamledger import db, itemkeys
from teamledger.auth import Actor
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


def record(tx: db.Transaction, actor: Actor | None, action: str, table_name: str,
           object_id: str, before: dict | None, after: dict | None,
           changed_by: str | None = None) -> None:
    """`changed_by` names a changer without a key (the budget reset job)."""
    now = utcnow()
    audit_id = str(uuid.uuid4())
    updated_at = to_iso(now)
    key = itemkeys.audit(object_id, updated_at, audit_id)
    changed_by = actor.changed_by if actor else changed_by
    tx.put(key | itemkeys.audit_index(changed_by, table_name, key["SK"]) | {
        "entity": "audit",
        "id": audit_id,
        "updated_at": updated_at,
        "changed_by": changed_by,
        "changed_by_api_key": actor.caller.token if actor else None,
        "action": action,
        "table_name": table_name,
        "object_id": object_id,
        "before_value": before,
        "updated_values": after or {},
        "ttl": int((now + _retention()).timestamp()),
    })


def changed_fields(before: dict, after: dict) -> tuple[dict, dict]:
    """The fields whose values differ, as (before_value, updated_values)."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
