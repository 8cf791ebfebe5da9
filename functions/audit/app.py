"""GET /audit: the audit log, newest first (admins and viewers; a team's timeline, its team
admins too)."""

from datetime import datetime
from typing import Annotated, Literal

from teamledger import cursors
from teamledger.domain import audit_log
from teamledger.domain.audit import MAX_OBJECT_ID
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import AuditPage, ChangedBy, Id
from teamledger.http.params import Query

app = ServiceApp()

TableName = Literal["LiteLLM_TeamTable", "LiteLLM_TeamMembership", "LiteLLM_UserTable",
                    "LiteLLM_VerificationToken"]
Action = Literal["created", "updated", "deleted", "blocked", "unblocked"]


@app.get("/audit")
def audit(
    object_id: Annotated[str | None, Query(min_length=1, max_length=MAX_OBJECT_ID)] = None,
    team_id: Annotated[Id | None, Query()] = None,
    table_name: Annotated[TableName | None, Query()] = None,
    action: Annotated[Action | None, Query()] = None,
    changed_by: Annotated[ChangedBy | None, Query()] = None,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=cursors.MAX_CURSOR)] = None,
) -> AuditPage:
    return audit_log.list_audit(
        app.actor, object_id=object_id, team_id=team_id, table_name=table_name, action=action,
        changed_by=changed_by, start=start, end=end, limit=limit, cursor=cursor)


lambda_handler = lambda_entry(app)
