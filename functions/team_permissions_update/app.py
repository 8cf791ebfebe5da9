"""POST /team/permissions_update: set the key routes a team's plain members may call."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import TeamPermissions, TeamPermissionsRequest

app = ServiceApp()


@app.post("/team/permissions_update")
def team_permissions_update(request: TeamPermissionsRequest) -> TeamPermissions:
    return teams.update_permissions(app.actor, request)


lambda_handler = lambda_entry(app)
