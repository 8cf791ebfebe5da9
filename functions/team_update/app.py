"""POST /team/update: change only the fields sent."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import TeamUpdated, TeamUpdateRequest

app = ServiceApp()


@app.post("/team/update")
def team_update(request: TeamUpdateRequest) -> TeamUpdated:
    return teams.update_team(app.actor, request)


lambda_handler = lambda_entry(app)
