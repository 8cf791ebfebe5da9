"""GET /audit: AuditLog records newest first, every query served by a key, never a scan (see
AuditStore for which key serves which filter)."""

from datetime import UTC, datetime

from teamledger.domain import audit
from teamledger.domain.callers import Actor
from teamledger.domain.policy import Action, authorize
from teamledger.domain.team_access import authorize_by_gate
from teamledger.errors import BadRequest
from teamledger.http.models import AuditLog, AuditPage
from teamledger.store import stores
from teamledger.store.audit import AuditQuery
from teamledger.timestamps import to_iso

FIELDS = tuple(AuditLog.model_fields)
# An object's records are its own partition, a team's are an index: one key per query.
ONE_OF = "object_id and team_id cannot be combined: ask for one object or one team"


def list_audit(actor: Actor, *, object_id: str | None = None, team_id: str | None = None,
               table_name: str | None = None, action: str | None = None,
               changed_by: str | None = None, start: datetime | None = None,
               end: datetime | None = None, limit: int = 50,
               cursor: str | None = None) -> AuditPage:
    if team_id is None:
        authorize(actor.caller, Action.AUDIT_READ)
    else:  # a team's timeline: its team admins too; a deleted team's history for admins
        authorize_by_gate(actor.caller, Action.TEAM_AUDIT_READ, team_id,
                          known=lambda: stores().audit.has_team_records(team_id))
        if object_id is not None:
            raise BadRequest(ONE_OF)
    start, end = _aware(start), _aware(end)
    # start after end is decided on the times as sent: aware times compare without overflow
    if start is not None and end is not None and start > end:
        raise BadRequest("start is after end")
    low, high = _utc_text(start), _utc_text(end)
    if object_id is not None:
        object_id = audit.lookup_id(object_id)
    query = AuditQuery(object_id=object_id, team_id=team_id, table_name=table_name,
                       action=action, changed_by=changed_by, start=low, end=high, limit=limit)
    items, next_cursor = stores().audit.page(query, cursor)
    return AuditPage(data=[AuditLog(**{k: item.get(k) for k in FIELDS}) for item in items],
                     next_cursor=next_cursor)


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC, as every time of this API is."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


# The calendar's edges in UTC: every record lies between them (timestamps have 4-digit years).
EARLIEST, LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


def _utc_text(moment: datetime | None) -> str | None:
    """The time in UTC, as the records' sort keys write it (text order is time order). A
    valid time whose UTC falls outside years 1 to 9999 (0001-01-01T00:00:00+14:00) is
    clamped to the calendar's edge, which selects the same records; it is compared as it is
    (aware times compare without converting), so nothing overflows."""
    if moment is None:
        return None
    return to_iso(min(max(moment, EARLIEST), LATEST))
