"""POST /team/model/add: add models to a team (order kept, never twice)."""

from teamledger import teams
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import Team, TeamModelsRequest

app = ServiceApp()


@app.post("/team/model/add")
def team_model_add(request: TeamModelsRequest) -> Team:
    return teams.add_models(app.actor, request)


lambda_handler = lambda_entry(app)
