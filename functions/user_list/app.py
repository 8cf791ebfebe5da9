"""GET /user/list: one page of users, newest first, with the exact total."""

from typing import Annotated

from teamledger import sizes
from teamledger.domain import user_lists
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import UserPage, UserRole
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/user/list")
def user_list(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
    role: Annotated[UserRole | None, Query()] = None,
    user_email: Annotated[str | None, Query(max_length=sizes.EMAIL_BYTES)] = None,
) -> UserPage:
    return user_lists.list_users(app.actor, page=page, page_size=page_size, role=role,
                                 user_email=user_email)


lambda_handler = lambda_entry(app)
