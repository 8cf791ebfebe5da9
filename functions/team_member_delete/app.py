"""POST /team/member_delete: remove a member with its membership budget."""

from teamledger import members
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import MemberDeleteRequest, Team

app = ServiceApp()


@app.post("/team/member_delete")
def team_member_delete(request: MemberDeleteRequest) -> Team:
    return members.delete_member(app.actor, request)


lambda_handler = lambda_entry(app)
