"""POST /team/member_add: add one member or a few, all or nothing (self-join: see policy)."""

from teamledger import members
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import MemberAdded, MemberAddRequest

app = ServiceApp()


@app.post("/team/member_add")
def team_member_add(request: MemberAddRequest) -> MemberAdded:
    return members.add_members(app.actor, request)


lambda_handler = lambda_entry(app)
