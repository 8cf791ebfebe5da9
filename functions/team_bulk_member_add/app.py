"""POST /team/bulk_member_add: up to 500 members, each added or refused on its own."""

from teamledger.domain import members
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import BulkMemberAddRequest, BulkMembersAdded

app = ServiceApp()


@app.post("/team/bulk_member_add")
def team_bulk_member_add(request: BulkMemberAddRequest) -> BulkMembersAdded:
    return members.bulk_add_members(app.actor, request)


lambda_handler = lambda_entry(app, idempotent=True)
