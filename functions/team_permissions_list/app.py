"""GET /team/permissions_list: the key routes a team's plain members may call."""

from typing import Annotated

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Id, TeamPermissions
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/team/permissions_list")
def team_permissions_list(team_id: Annotated[Id, Query()]) -> TeamPermissions:
    return teams.team_permissions(app.actor, team_id)


lambda_handler = lambda_entry(app)
