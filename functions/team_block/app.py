"""POST /team/block: the team's keys are refused from the next request on."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Team, TeamIdRequest

app = ServiceApp()


@app.post("/team/block")
def team_block(request: TeamIdRequest) -> Team:
    return teams.set_blocked(app.actor, request.team_id, blocked=True)


lambda_handler = lambda_entry(app)
