"""POST /team/new: create a team with its members; the caller joins as admin."""

from teamledger import teams
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import Team, TeamNewRequest

app = ServiceApp()


@app.post("/team/new")
def team_new(request: TeamNewRequest) -> Team:
    return teams.create_team(app.actor, request)


lambda_handler = lambda_entry(app, idempotent=True)
