"""PATCH /team/{team_id}: /team/update for the team of the path."""

from typing import Annotated

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Id, Team, TeamPatchRequest
from teamledger.http.params import Path

app = ServiceApp()


@app.patch("/team/<team_id>")
def team_patch(team_id: Annotated[Id, Path()], request: TeamPatchRequest) -> Team:
    return teams.patch_team(app.actor, team_id, request)


lambda_handler = lambda_entry(app)
