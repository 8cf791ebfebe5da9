"""GET /team/available: the teams open to join (AVAILABLE_TEAMS) the caller is not in."""

from teamledger import teams
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import Team

app = ServiceApp()


@app.get("/team/available")
def team_available() -> list[Team]:
    return teams.available_teams(app.actor)


lambda_handler = lambda_entry(app)
