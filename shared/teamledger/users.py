"""Users: rows created by /user/new or on first mention (a member or key naming a new user)."""

import uuid
from dataclasses import dataclass

from teamledger import apikeys, audit, db, itemkeys, limits, teamstore
from teamledger.auth import DEFAULT_USER_ID, INTERNAL_USER, PROXY_ADMIN, Actor
from teamledger.errors import BadRequest, NotFound
from teamledger.models import Member, NewUser, User, UserInfo, UserNewRequest
from teamledger.policy import Action, Relation, authorize, check_gate
from teamledger.timestamps import to_iso, utcnow

USER_FIELDS = ("user_id", "user_email", "user_role", "max_budget", "spend", "budget_duration",
               "budget_reset_at", "models", "metadata", "created_at")


@dataclass
class ResolvedMember:
    user_id: str
    user_email: str | None
    role: str
    user: dict | None  # the stored user row, None when this request creates it


def user_item(user_id: str, *, user_email: str | None = None, user_role: str = INTERNAL_USER,
              now: str, **fields) -> dict:
    item = itemkeys.user(user_id) | itemkeys.user_index(user_id, user_email) | {
        "entity": "user", "user_id": user_id, "user_email": user_email,
        "user_role": user_role, "spend": 0.0, "models": [], "metadata": {}, "created_at": now,
    }
    item.update({k: v for k, v in fields.items() if v is not None})
    budget_reset_at = item.get("budget_reset_at")
    return item | itemkeys.reset_index(item, budget_reset_at)


def public(item: dict) -> dict:
    return {k: item.get(k) for k in USER_FIELDS}


def default_role(user_id: str) -> str:
    return PROXY_ADMIN if user_id == DEFAULT_USER_ID else INTERNAL_USER


def find_by_email(user_email: str) -> list[dict]:
    items, _ = db.query(itemkeys.email_partition(user_email), index="GSI2", limit=2)
    return items


def _user_id_of(member: Member, new_ids: dict[str, str]) -> str:
    if member.user_id:
        return member.user_id
    if not member.user_email:
        raise BadRequest("Each member needs a user_id or a user_email")
    matches = find_by_email(member.user_email)
    if len(matches) > 1:
        raise BadRequest(f"More than one user has the email {member.user_email}; "
                         "pass the member's user_id instead")
    # An email listed twice is one new user, so it shows up as listed twice.
    return matches[0]["user_id"] if matches else new_ids.setdefault(
        member.user_email.lower(), str(uuid.uuid4()))


def resolve_each(members: list[Member]) -> list[ResolvedMember | BadRequest]:
    """Members named by id or email -> users, each on its own: its user, or why it cannot be
    added (in a bulk add it fails alone). Every known user is read in one batch.

    An email with no user gets a new id; an email shared by two users is ambiguous; a user
    named a second time is listed twice.
    """
    ids: list[str | BadRequest] = []
    new_ids: dict[str, str] = {}
    for member in members:
        try:
            ids.append(_user_id_of(member, new_ids))
        except BadRequest as error:
            ids.append(error)
    seen: set[str] = set()
    for index, (member, user_id) in enumerate(zip(members, ids, strict=True)):
        if isinstance(user_id, str) and user_id in seen:
            ids[index] = BadRequest(f"User {member.user_id or member.user_email} is listed twice")
        elif isinstance(user_id, str):
            seen.add(user_id)
    stored = {u["user_id"]: u for u in db.batch_get([itemkeys.user(u) for u in seen])}
    return [user_id if isinstance(user_id, BadRequest) else ResolvedMember(
        user_id, member.user_email or stored.get(user_id, {}).get("user_email"), member.role,
        stored.get(user_id)) for member, user_id in zip(members, ids, strict=True)]


def resolve_members(members: list[Member]) -> list[ResolvedMember]:
    """As `resolve_each`, all or nothing: the first member that cannot be added is a 400."""
    resolved = resolve_each(members)
    error = next((r for r in resolved if isinstance(r, BadRequest)), None)
    if error:
        raise error
    return [r for r in resolved if isinstance(r, ResolvedMember)]


def team_ids_of(user_id: str) -> list[str]:
    """The user's teams, from their member items on GSI1 (never an array on the user)."""
    return [link["team_id"] for link in db.query_all(
        itemkeys.user_partition(user_id), index="GSI1", sk_prefix=itemkeys.TEAM_LINK_PREFIX)]


def add_missing_users(tx: db.Transaction, actor: Actor, members: list[ResolvedMember],
                      now: str) -> list[int]:
    """Create the users this request mentions for the first time; returns their tx indexes."""
    indexes = []
    for member in members:
        if member.user is not None:
            continue
        item = user_item(member.user_id, user_email=member.user_email,
                         user_role=default_role(member.user_id), now=now)
        indexes.append(tx.put(item, condition="attribute_not_exists(PK)"))
        audit.record(tx, actor, audit.CREATED, audit.USER_TABLE, member.user_id, None,
                     public(item))
        member.user = item
    return indexes


def create_user(actor: Actor, request: UserNewRequest) -> NewUser:
    authorize(actor.caller, Action.USER_CREATE)
    limits.check_numbers(request)
    period = limits.parse_duration(request.budget_duration)
    user_id = request.user_id or str(uuid.uuid4())
    now = utcnow()
    stamp = to_iso(now)
    reset_at = to_iso(period.first_reset(now)) if period else None
    item = user_item(user_id, user_email=request.user_email, user_role=request.user_role,
                     now=stamp, max_budget=request.max_budget, models=request.models,
                     metadata=request.metadata, budget_duration=request.budget_duration,
                     budget_reset_at=reset_at, budget_anchor=reset_at)
    tx = db.Transaction()
    user_at = tx.put(item, condition="attribute_not_exists(PK)")
    audit.record(tx, actor, audit.CREATED, audit.USER_TABLE, user_id, None, public(item))
    team_ids = list(dict.fromkeys(request.teams or []))
    found = {t["team_id"]: t for t in db.batch_get([itemkeys.team(t) for t in team_ids])}
    team_checks = teamstore.add_memberships_of_new_user(
        tx, actor, item, {t: found.get(t) for t in team_ids}, stamp)
    raw_key, key_item = apikeys.new_key_item(user_id=user_id, team_id=None,
                                             user_role=request.user_role, now=stamp)
    apikeys.add_key_creation(tx, actor, key_item)
    try:
        tx.commit()
    except db.TransactionCancelled as cancelled:
        if cancelled.failed_at(user_at):
            raise BadRequest(f"User {user_id} already exists") from cancelled
        missing = [team for index, team in team_checks if cancelled.failed_at(index)]
        if missing:
            raise NotFound(f"Team {missing[0]} not found") from cancelled
        raise
    return NewUser(**public(item), teams=request.teams or [], key=raw_key)


def user_info(actor: Actor, user_id: str | None) -> UserInfo:
    caller = actor.caller
    check_gate(caller, Action.USER_READ)
    user_id = user_id or caller.user_id
    if not user_id:
        raise BadRequest("Pass a user_id")
    item = db.get(itemkeys.user(user_id))
    relations = {Relation.SELF} if user_id == caller.user_id else set()
    authorize(caller, Action.USER_READ, exists=item is not None, what=f"User {user_id}",
              relations=relations)
    linked = list(db.query_all(itemkeys.user_partition(user_id), index="GSI1"))
    team_ids = [i["team_id"] for i in linked if i.get("entity") == "member"]
    teams = teamstore.load_teams(team_ids)
    keys = [apikeys.listed(i) for i in linked if i.get("entity") == "key"]
    user = User(**public(item), teams=[t.team_id for t in teams])
    return UserInfo(user_id=user_id, user_info=user, keys=keys, teams=teams)
