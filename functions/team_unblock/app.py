"""POST /team/unblock: the team's keys work again from the next request on."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Team, TeamIdRequest

app = ServiceApp()


@app.post("/team/unblock")
def team_unblock(request: TeamIdRequest) -> Team:
    return teams.set_blocked(app.actor, request.team_id, blocked=False)


lambda_handler = lambda_entry(app)
