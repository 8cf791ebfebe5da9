"""The user routes: /user/new (a user, their first key, their teams) and /user/info."""

import uuid

from teamledger import sizes
from teamledger.domain import audit, directory, keys, limits
from teamledger.domain.callers import Actor
from teamledger.domain.memberships import add_member, member_values
from teamledger.domain.policy import Action, Relation, authorize, check_gate
from teamledger.domain.views import listed_key, listed_team, user_public
from teamledger.errors import BadRequest, NotFound
from teamledger.http.models import NewUser, User, UserInfo, UserNewRequest
from teamledger.store import stores
from teamledger.timestamps import to_iso, utcnow


def create_user(actor: Actor, request: UserNewRequest) -> NewUser:
    authorize(actor.caller, Action.USER_CREATE)
    limits.check_numbers(request)
    period = limits.parse_duration(request.budget_duration)
    limits.check_json_sizes(metadata=request.metadata, models=request.models)
    user_id = request.user_id or str(uuid.uuid4())
    now = utcnow()
    stamp = to_iso(now)
    reset_at = to_iso(period.first_reset(now)) if period else None
    user = directory.user_values(
        user_id, user_email=request.user_email, user_role=request.user_role, now=stamp,
        max_budget=request.max_budget, models=request.models, metadata=request.metadata,
        budget_duration=request.budget_duration, budget_reset_at=reset_at,
        budget_anchor=reset_at)
    taken = BadRequest(f"The email {request.user_email} belongs to another user")
    owners = stores().users.email_owners([request.user_email])[request.user_email] \
        if request.user_email else []
    if any(owner != user_id for owner in owners):  # its own: the user exists, refused below
        raise taken
    tx = stores().transaction()
    # The email's item is refused if the email was taken meanwhile: one user each, always.
    stores().users.put_new(tx, user, refusal=BadRequest(f"User {user_id} already exists"),
                           email_refusal=taken)
    audit.record(tx, actor, audit.CREATED, audit.USER_TABLE, audit.object_id(user_id), None,
                 user_public(user))
    # `team_id` (LiteLLM's) joins like `teams`, and makes the first key that team's.
    team_ids = list(dict.fromkeys([*(request.teams or []), *filter(None, [request.team_id])]))
    # Each team's roster, for its room: one BatchGetItem (none: an unknown team).
    rosters = stores().teams.rosters(team_ids)
    for order, team_id in enumerate(team_ids):
        member = member_values(team_id, user_id, user.get("user_email"), "user", stamp, order)
        # A team that is not found (or not active) refuses the roster update.
        stores().teams.add_to_roster(
            tx, rosters.get(team_id) or {"team_id": team_id, "roster": {}, "roster_bytes": 0},
            [member], refusal=NotFound(f"Team {team_id} not found"))
        add_member(tx, actor, member)
    raw_key, key = keys.new_key(user_id=user_id, team_id=request.team_id, now=stamp)
    keys.create_key(tx, actor, key)
    tx.commit()
    return NewUser(**user_public(user), teams=team_ids, key=raw_key, team_id=request.team_id)


def user_info(actor: Actor, user_id: str | None) -> UserInfo:
    caller = actor.caller
    check_gate(caller, Action.USER_READ)
    user_id = user_id or caller.user_id
    if not user_id:
        raise BadRequest("Pass a user_id")
    item = stores().users.with_spend(user_id)
    relations = {Relation.SELF} if user_id == caller.user_id else set()
    authorize(caller, Action.USER_READ, exists=item is not None, what=f"User {user_id}",
              relations=relations)
    assert item is not None  # authorize refused an unknown user
    members, key_items = stores().users.memberships_and_keys(user_id)
    views = stores().teams.listed([m["team_id"] for m in members])
    # Bounded: each key shows twice (in `keys` and in its team), each team with its roster.
    if sum(sizes.answer_size(v.team, v.members) for v in views) + \
            2 * sum(sizes.answer_size(k) for k in key_items) > sizes.LIST_ANSWER_BYTES:
        raise BadRequest(f"User {user_id}'s teams and keys would answer more than "
                         f"{sizes.LIST_ANSWER_BYTES:,} bytes; page them with GET /v2/team/list"
                         f"?user_id= and GET /key/list?user_id=")
    # Each team with this user's membership and keys only (as /team/list?user_id= shows it).
    teams = [listed_team(v, [m for m in members if m["team_id"] == v.team["team_id"]],
                         [k for k in key_items if k.get("team_id") == v.team["team_id"]])
             for v in views]
    user = User(**user_public(item), teams=[t.team_id for t in teams])
    return UserInfo(user_id=user_id, user_info=user, keys=[listed_key(k) for k in key_items],
                    teams=teams)
