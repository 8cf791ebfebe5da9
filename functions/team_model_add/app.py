"""POST /team/model/add: add models to a team (order kept, never twice)."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Team, TeamModelsRequest

app = ServiceApp()


@app.post("/team/model/add")
def team_model_add(request: TeamModelsRequest) -> Team:
    return teams.add_models(app.actor, request)


lambda_handler = lambda_entry(app)
