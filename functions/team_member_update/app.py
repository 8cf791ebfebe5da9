"""POST /team/member_update: a member's role and membership budget, changed in place."""

from teamledger import members
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import MemberUpdated, MemberUpdateRequest

app = ServiceApp()


@app.post("/team/member_update")
def team_member_update(request: MemberUpdateRequest) -> MemberUpdated:
    return members.update_member(app.actor, request)


lambda_handler = lambda_entry(app)
