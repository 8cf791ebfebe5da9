"""POST /team/member_add: add one member or a few, all or nothing (self-join: see policy)."""

from teamledger.domain import members
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import MemberAdded, MemberAddRequest

app = ServiceApp()


@app.post("/team/member_add")
def team_member_add(request: MemberAddRequest) -> MemberAdded:
    return members.add_members(app.actor, request)


lambda_handler = lambda_entry(app)
