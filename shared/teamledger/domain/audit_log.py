"""GET /audit: AuditLog records newest first, every query served by a key, never a scan (see
AuditStore for which key serves which filter)."""

from datetime import UTC, datetime

from teamledger.domain.callers import Actor
from teamledger.domain.policy import Action, authorize
from teamledger.errors import BadRequest
from teamledger.http.models import AuditLog, AuditPage
from teamledger.store import stores
from teamledger.store.audit import AuditQuery
from teamledger.timestamps import to_iso

FIELDS = tuple(AuditLog.model_fields)


def list_audit(actor: Actor, *, object_id: str | None = None, table_name: str | None = None,
               action: str | None = None, changed_by: str | None = None,
               start: datetime | None = None, end: datetime | None = None, limit: int = 50,
               cursor: str | None = None) -> AuditPage:
    authorize(actor.caller, Action.AUDIT_READ)
    low, high = _utc_text("start", start), _utc_text("end", end)
    if low and high and low > high:
        raise BadRequest("start is after end")
    query = AuditQuery(object_id=object_id, table_name=table_name, action=action,
                       changed_by=changed_by, start=low, end=high, limit=limit)
    items, next_cursor = stores().audit.page(query, cursor)
    return AuditPage(data=[AuditLog(**{k: item.get(k) for k in FIELDS}) for item in items],
                     next_cursor=next_cursor)


def _utc_text(name: str, moment: datetime | None) -> str | None:
    """The time in UTC, as the records' sort keys write it; a time without a zone is UTC, as
    every time of this API is. (Text order is time order.)"""
    if moment is None:
        return None
    try:
        return to_iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except (OverflowError, ValueError) as error:  # 0001-01-01T00:00+14:00 is before year 1
        raise BadRequest(f"{name} must be a time from year 1 to 9999 in UTC") from error
