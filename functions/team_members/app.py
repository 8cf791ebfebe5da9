"""GET /team/members: a team's members past the first 1,000 that /team/info answers, a page of
1,000 at a time, from the cursor /team/info (members_next_cursor) or the last page gave."""

from typing import Annotated

from teamledger import cursors
from teamledger.domain import teams
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Id, TeamMembersPage
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/team/members")
def team_members(
    team_id: Annotated[Id, Query()],
    cursor: Annotated[str | None, Query(max_length=cursors.MAX_CURSOR)] = None,
) -> TeamMembersPage:
    return teams.team_members(app.actor, team_id, cursor)


lambda_handler = lambda_entry(app)
