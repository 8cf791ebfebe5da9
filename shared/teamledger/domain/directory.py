"""Who the users are: members named by user_id or email resolved to user rows, and the rows
a request creates for users it mentions for the first time (a member, a key's owner)."""

import uuid
from dataclasses import dataclass
from typing import Any

from teamledger.domain import audit
from teamledger.domain.callers import DEFAULT_USER_ID, INTERNAL_USER, PROXY_ADMIN, Actor
from teamledger.domain.views import user_public
from teamledger.errors import BadRequest
from teamledger.http.models import Member
from teamledger.store import stores
from teamledger.store.refs import UserRef
from teamledger.store.table import Transaction

Item = dict[str, Any]


@dataclass
class ResolvedMember:
    user_id: str
    user_email: str | None
    role: str
    user: Item | None  # the stored user row, None when this request creates it


def user_values(user_id: str, *, user_email: str | None = None,
                user_role: str = INTERNAL_USER, now: str, **fields: Any) -> Item:
    user: Item = {"user_id": user_id, "user_email": user_email, "user_role": user_role,
                  "spend": 0.0, "models": [], "metadata": {}, "created_at": now}
    return user | {k: v for k, v in fields.items() if v is not None}


def default_role(user_id: str) -> str:
    return PROXY_ADMIN if user_id == DEFAULT_USER_ID else INTERNAL_USER


def _user_id_of(member: Member, new_ids: dict[str, str]) -> str:
    if member.user_id:
        return member.user_id
    if not member.user_email:
        raise BadRequest("Each member needs a user_id or a user_email")
    matches = stores().users.find_by_email(member.user_email)
    if len(matches) > 1:
        raise BadRequest(f"More than one user has the email {member.user_email}; "
                         "pass the member's user_id instead")
    # An email listed twice is one new user, so it shows up as listed twice.
    return str(matches[0]["user_id"]) if matches else new_ids.setdefault(
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
    stored = {ref.user_id: item for ref, item in
              stores().items.read(UserRef(u) for u in seen).items() if isinstance(ref, UserRef)}
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


def add_missing_users(tx: Transaction, actor: Actor, members: list[ResolvedMember],
                      now: str) -> None:
    """Create the users this request mentions for the first time (a lost race if one appears
    meanwhile: the caller resolves again)."""
    for member in members:
        if member.user is not None:
            continue
        user = user_values(member.user_id, user_email=member.user_email,
                           user_role=default_role(member.user_id), now=now)
        stores().users.put_new(tx, user)
        audit.record(tx, actor, audit.CREATED, audit.USER_TABLE, member.user_id, None,
                     user_public(user))
        member.user = user
