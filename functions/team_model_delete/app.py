"""POST /team/model/delete: remove the named models from a team, and only those."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Team, TeamModelsRequest

app = ServiceApp()


@app.post("/team/model/delete")
def team_model_delete(request: TeamModelsRequest) -> Team:
    return teams.delete_models(app.actor, request)


lambda_handler = lambda_entry(app)
