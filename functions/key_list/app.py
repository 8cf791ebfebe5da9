"""GET /key/list: a page of the keys the caller may list, as tokens or Key objects."""

from typing import Annotated

from teamledger.domain import key_lists
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Alias, KeyPage, QueryId
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/key/list")
def key_list(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    user_id: Annotated[QueryId | None, Query()] = None,
    team_id: Annotated[QueryId | None, Query()] = None,
    key_alias: Annotated[Alias | None, Query()] = None,
    return_full_object: Annotated[bool, Query()] = False,
) -> KeyPage:
    return key_lists.list_keys(app.actor, key_lists.KeyQuery(
        page=page, size=size, user_id=user_id or None, team_id=team_id or None,
        key_alias=key_alias or None, return_full_object=return_full_object))


lambda_handler = lambda_entry(app)
