"""GET /user/list: a page of users, newest first, with the exact total.

Without a filter the total is the users' count (kept in the transactions that create and
delete users); with `role` or `user_email` it is a count of the list. A page reads the list
up to its last user."""

import math

from teamledger import sizes
from teamledger.domain.callers import Actor
from teamledger.domain.policy import Action, authorize
from teamledger.domain.views import user_public
from teamledger.errors import BadRequest
from teamledger.http.models import User, UserPage
from teamledger.store import stores
from teamledger.store.users import UserMatch


def list_users(actor: Actor, *, page: int, page_size: int, role: str | None,
               user_email: str | None) -> UserPage:
    authorize(actor.caller, Action.USERS_LIST)
    match = UserMatch(role=role, email_contains=user_email or None)
    users = stores().users
    total = users.count_matching(match) if match.narrows else users.total()
    skip = (page - 1) * page_size
    items = users.listed(match, skip, page_size) if skip < total else []
    members = stores().members
    teams = {i["user_id"]: members.team_ids_of(i["user_id"]) for i in items}
    if sum(sizes.answer_size(i, teams[i["user_id"]]) for i in items) > sizes.PAGE_ANSWER_BYTES:
        raise BadRequest(f"these {len(items)} users would answer more than "
                         f"{sizes.PAGE_ANSWER_BYTES:,} bytes; ask a smaller page_size")
    return UserPage(
        users=[User(**user_public(i), teams=teams[i["user_id"]]) for i in items],
        total=total, page=page, page_size=page_size, total_pages=math.ceil(total / page_size))
