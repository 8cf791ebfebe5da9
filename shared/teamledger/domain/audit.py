"""What an AuditLog record says about a change: written by the stores inside the transaction
of the change itself, so the log holds exactly the changes that committed."""

import os
import re
import uuid
from datetime import timedelta
from typing import Any, NewType

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
# The master key's `changed_by_api_key`: a label, never its hash (viewers read the log, and a
# hash of a guessable key is cracked offline).
MASTER_KEY_LABEL = "master_key"


# An AuditLog's `object_id`: the object's ids, each with '%' and ':' percent-escaped, joined
# by ':' (a team `P:x` is `P%3Ax`; its membership of user `y` is `P%3Ax:y`, that of team `P`
# and user `x:y` is `P:x%3Ay`). Ids without '%' or ':' are written as they are, so the
# records of ordinary ids read as before. `record` takes only an ObjectId: every writer builds
# it here (mypy holds them to it).
ObjectId = NewType("ObjectId", str)
_ESCAPES = {"%": "%25", ":": "%3A"}
_ESCAPE = re.compile("[%:]")
_UNESCAPE = re.compile("%(25|3A)", re.IGNORECASE)
MAX_OBJECT_ID = 3 * 256 + 1 + 3 * 256  # a membership of two 256-character ids, all escaped


def object_id(*ids: str) -> ObjectId:
    return ObjectId(":".join(_ESCAPE.sub(lambda m: _ESCAPES[m.group()], i) for i in ids))


def membership_id(team_id: str, user_id: str) -> ObjectId:
    return object_id(team_id, user_id)


def lookup_id(text: str) -> ObjectId:
    """The object id that `GET /audit?object_id=` names: each ':'-separated part unescaped
    (`%25`, `%3A` in either case; any other '%' is itself) and escaped again, so a writer's
    object id is itself, an escape in lower case finds the same records, and a raw '%' finds
    the id that holds it."""
    return object_id(*(_UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), part)
                       for part in text.split(":")))


def _retention() -> timedelta:
    return timedelta(days=int(os.environ.get("AUDIT_RETENTION_DAYS", "90")))


def record(tx: Transaction, actor: Actor | None, action: str, table_name: str,
           object_id: ObjectId, before: dict[str, Any] | None, after: dict[str, Any] | None,
           changed_by: str | None = None, *, team_id: str | None = None) -> None:
    """`changed_by` names a changer without a key (the budget reset job); `team_id` the team
    whose timeline (`GET /audit?team_id=`) the record is in: the team's, its membership's, or
    its key's (the key's team after the change: a moved key's move is in the timeline of the
    team it moved to). A user's records are in no team's."""
    now = utcnow()
    stores().audit.record(tx, {
        "id": str(uuid.uuid4()),
        "updated_at": to_iso(now),
        "changed_by": actor.changed_by if actor else changed_by,
        "changed_by_api_key": _api_key_of(actor),
        "action": action,
        "table_name": table_name,
        "object_id": object_id,
        "before_value": before,
        "updated_values": after or {},
        "ttl": int((now + _retention()).timestamp()),
    }, team_id)


def _api_key_of(actor: Actor | None) -> str | None:
    if actor is None:
        return None
    return MASTER_KEY_LABEL if actor.caller.is_master else actor.caller.token


def changed_fields(before: dict[str, Any],
                   after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose values differ, as (before_value, updated_values)."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
