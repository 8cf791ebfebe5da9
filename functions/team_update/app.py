"""POST /team/update: change only the fields sent."""

from teamledger import teams
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import TeamUpdated, TeamUpdateRequest

app = ServiceApp()


@app.post("/team/update")
def team_update(request: TeamUpdateRequest) -> TeamUpdated:
    return teams.update_team(app.actor, request)


lambda_handler = lambda_entry(app)
