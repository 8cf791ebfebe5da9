"""POST /team/member_delete: remove a member with its membership budget."""

from teamledger.domain import members
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import MemberDeleteRequest, Team

app = ServiceApp()


@app.post("/team/member_delete")
def team_member_delete(request: MemberDeleteRequest) -> Team:
    return members.remove_member(app.actor, request)


lambda_handler = lambda_entry(app)
