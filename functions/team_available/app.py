"""GET /team/available: the teams open to join (AVAILABLE_TEAMS) the caller is not in."""

from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Team

app = ServiceApp()


@app.get("/team/available")
def team_available() -> list[Team]:
    return teams.available_teams(app.actor)


lambda_handler = lambda_entry(app)
