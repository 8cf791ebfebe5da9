"""GET /user/info: a user with their keys and teams (the caller's own by default)."""

from typing import Annotated

from teamledger.domain import users
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import QueryId, UserInfo
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/user/info")
def user_info(user_id: Annotated[QueryId | None, Query()] = None) -> UserInfo:
    return users.user_info(app.actor, user_id)


lambda_handler = lambda_entry(app)
