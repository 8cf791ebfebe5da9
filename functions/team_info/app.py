"""GET /team/info: a team with its keys and memberships."""

from typing import Annotated

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Id, TeamInfo
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/team/info")
def team_info(team_id: Annotated[Id, Query()]) -> TeamInfo:
    return teams.team_info(app.actor, team_id)


lambda_handler = lambda_entry(app)
