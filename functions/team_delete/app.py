"""POST /team/delete: delete teams with their members and keys (all ids checked first)."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import TeamDeleteRequest, TeamsDeleted

app = ServiceApp()


@app.post("/team/delete")
def team_delete(request: TeamDeleteRequest) -> TeamsDeleted:
    return teams.delete_teams(app.actor, request)


lambda_handler = lambda_entry(app)
