"""POST /team/new: create a team with its members; the caller joins as admin."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Team, TeamNewRequest

app = ServiceApp()


@app.post("/team/new")
def team_new(request: TeamNewRequest) -> Team:
    return teams.create_team(app.actor, request)


lambda_handler = lambda_entry(app, idempotent=True)
