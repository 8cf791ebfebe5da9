"""GET /team/filter/ui: admins' and viewers' team search, newest first."""

from typing import Annotated

from teamledger.domain import team_lists
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import QueryId, Team
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/team/filter/ui")
def team_filter_ui(
    team_id: Annotated[QueryId | None, Query()] = None,
    team_alias: Annotated[str | None, Query(max_length=512)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[Team]:
    return team_lists.search_teams(
        app.actor, page=page, page_size=page_size,
        team_filter=team_lists.TeamFilter(team_id=team_id, team_alias=team_alias))


lambda_handler = lambda_entry(app)
