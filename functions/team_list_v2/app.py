"""GET /v2/team/list: one page of teams (admins, viewers: all; others: their own), with the
exact total and a cursor to the next page."""

from typing import Annotated, Literal

from teamledger.domain import team_lists
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import QueryId, TeamPage
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/v2/team/list")
def team_list_v2(
    user_id: Annotated[QueryId | None, Query()] = None,
    organization_id: Annotated[QueryId | None, Query()] = None,
    team_id: Annotated[QueryId | None, Query()] = None,
    team_alias: Annotated[str | None, Query(max_length=512)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    sort_by: Annotated[Literal["created_at", "team_alias", "spend"] | None, Query()] = None,
    sort_order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=team_lists.MAX_CURSOR)] = None,
) -> TeamPage:
    order = team_lists.Order(sort_by or "created_at", (sort_order or "asc") == "desc")
    return team_lists.list_teams_page(
        app.actor, user_id=user_id, order=order, page=page, page_size=page_size,
        cursor=cursor, explicit_order=sort_by is not None or sort_order is not None,
        team_filter=team_lists.TeamFilter(team_id=team_id, organization_id=organization_id,
                                         team_alias=team_alias))


lambda_handler = lambda_entry(app)
