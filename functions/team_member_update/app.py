"""POST /team/member_update: a member's role and membership budget, changed in place."""

from teamledger.domain import members
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import MemberUpdated, MemberUpdateRequest

app = ServiceApp()


@app.post("/team/member_update")
def team_member_update(request: MemberUpdateRequest) -> MemberUpdated:
    return members.change_member(app.actor, request)


lambda_handler = lambda_entry(app)
