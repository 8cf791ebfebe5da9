"""Who the users are: members named by user_id or email resolved to user rows, and the rows
a request creates for users it mentions for the first time (a member, a key's owner).

An email is one user's: each user with an email has the email's own item, written with the
user, so a second user with it cannot be written; a member named with an email must be named
as its user (or by the email alone)."""

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


def same_email(first: str | None, second: str | None) -> bool:
    """Emails match case-insensitively: the whole address lowercased, as it is unique."""
    return (first or "").lower() == (second or "").lower()


def _owner(user_email: str, owners: dict[str, list[str]]) -> str | None:
    """The one user who has this email (None: nobody). Two can only be users stored before
    emails had items of their own: ambiguous."""
    found = owners.get(user_email) or []
    if len(found) > 1:
        raise BadRequest(f"More than one user has the email {user_email}; "
                         "pass the member's user_id instead")
    return found[0] if found else None


def _user_id_of(member: Member, owners: dict[str, list[str]], new_ids: dict[str, str]) -> str:
    if member.user_id:
        return member.user_id
    if not member.user_email:
        raise BadRequest("Each member needs a user_id or a user_email")
    # An email listed twice is one new user, so it shows up as listed twice.
    return _owner(member.user_email, owners) or new_ids.setdefault(
        member.user_email.lower(), str(uuid.uuid4()))


def _checked(member: Member, user_id: str, user: Item | None, owners: dict[str, list[str]],
             claimed: dict[str, str]) -> ResolvedMember:
    """A member's email is their user's: an existing user's own (the stored one is kept, in
    its case), or a new user's if nobody else has it or claims it in this request."""
    email = member.user_email
    if user is not None:
        if email and not same_email(email, user.get("user_email")):
            raise BadRequest(f"User {user_id} does not have the email {email}; "
                             "leave user_email out or pass theirs")
        return ResolvedMember(user_id, user.get("user_email"), member.role, user)
    if email:
        if member.user_id and _owner(email, owners) not in (None, user_id):
            raise BadRequest(f"The email {email} belongs to another user; "
                             "add that user by user_email alone")
        if claimed.setdefault(email.lower(), user_id) != user_id:
            raise BadRequest(f"The email {email} is listed twice")
    return ResolvedMember(user_id, email, member.role, None)


def resolve_each(members: list[Member]) -> list[ResolvedMember | BadRequest]:
    """Members named by id or email -> users, each on its own: its user, or why it cannot be
    added (in a bulk add it fails alone). Every known user is read in one batch, and the
    emails' owners in one more (two when emails come with new user ids).

    An email with no user gets a new id; an email two stored users share is ambiguous; a user
    named a second time is listed twice; an email that is not the named user's is refused
    (another user's, or not the existing user's own).
    """
    by_email = [m.user_email for m in members if m.user_email and not m.user_id]
    owners = stores().users.email_owners(by_email) if by_email else {}
    ids: list[str | BadRequest] = []
    new_ids: dict[str, str] = {}
    for member in members:
        try:
            ids.append(_user_id_of(member, owners, new_ids))
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
    # Emails named with the id of a user this request creates: whose are they already?
    claims = [m.user_email for m, u in zip(members, ids, strict=True)
              if m.user_id and m.user_email and isinstance(u, str) and u not in stored]
    owners |= stores().users.email_owners(claims) if claims else {}
    claimed: dict[str, str] = {}
    resolved: list[ResolvedMember | BadRequest] = []
    for member, user_id in zip(members, ids, strict=True):
        try:
            resolved.append(user_id if isinstance(user_id, BadRequest) else _checked(
                member, user_id, stored.get(user_id), owners, claimed))
        except BadRequest as error:
            resolved.append(error)
    return resolved


def resolve_members(members: list[Member]) -> list[ResolvedMember]:
    """As `resolve_each`, all or nothing: the first member that cannot be added is a 400."""
    resolved = resolve_each(members)
    error = next((r for r in resolved if isinstance(r, BadRequest)), None)
    if error:
        raise error
    return [r for r in resolved if isinstance(r, ResolvedMember)]


def add_missing_users(tx: Transaction, actor: Actor, members: list[ResolvedMember],
                      now: str) -> None:
    """Create the users this request mentions for the first time, each with its email's item
    (a lost race if the user or the email's item appears meanwhile: the caller resolves
    again, and then adds the user that won, or refuses an email that is now someone else's)."""
    for member in members:
        if member.user is not None:
            continue
        user = user_values(member.user_id, user_email=member.user_email,
                           user_role=default_role(member.user_id), now=now)
        stores().users.put_new(tx, user)
        audit.record(tx, actor, audit.CREATED, audit.USER_TABLE, audit.object_id(member.user_id),
                     None,
                     user_public(user))
        member.user = user
