"""GET /team/list: every team (admins, viewers) or the caller's own, sorted by alias, each with
its memberships and keys."""

from typing import Annotated

from teamledger.domain import team_lists
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import ListedTeam, QueryId
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/team/list")
def team_list(
    user_id: Annotated[QueryId | None, Query()] = None,
    organization_id: Annotated[QueryId | None, Query()] = None,
) -> list[ListedTeam]:
    return team_lists.list_teams(app.actor, user_id, organization_id)


lambda_handler = lambda_entry(app)
