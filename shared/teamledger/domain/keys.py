"""Virtual keys: only sha256(key) is stored; the raw key is returned once, by generate."""

import re
import secrets
from typing import Any

from teamledger.domain import audit, directory, limits
from teamledger.domain.callers import Actor, Caller, token_of
from teamledger.domain.durations import BudgetPeriod
from teamledger.domain.policy import Action, Relation, authorize, check_gate
from teamledger.domain.views import listed_key
from teamledger.errors import BadRequest, Forbidden, NotFound, TransactionCancelled
from teamledger.http.models import (
    GeneratedKey,
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyInfo,
    KeysDeleted,
)
from teamledger.store import stores
from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef
from teamledger.store.retry import retry
from teamledger.store.table import Transaction
from teamledger.store.teams import ACTIVE
from teamledger.timestamps import to_iso, utcnow

Item = dict[str, Any]
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


def token_for(value: str) -> str | None:
    """A key named by its token or (for compatibility) by the raw key itself."""
    if _TOKEN.match(value):
        return value
    return token_of(value) if value.startswith("sk-") else None


def new_key(*, user_id: str | None, team_id: str | None, user_role: str | None, now: str,
            **fields: Any) -> tuple[str, Item]:
    """A raw key and what is stored of it (never the raw key itself)."""
    raw = "sk-" + secrets.token_urlsafe(32)
    key: Item = {"token": token_of(raw), "key_name": f"sk-...{raw[-4:]}", "user_id": user_id,
                 "team_id": team_id, "user_role": user_role, "models": [], "spend": 0.0,
                 "blocked": False, "metadata": {}, "created_at": now}
    return raw, key | {k: v for k, v in fields.items() if v is not None}


def create_key(tx: Transaction, actor: Actor, key: Item) -> None:
    stores().keys.put_new(tx, key)
    audit.record(tx, actor, audit.CREATED, audit.KEY_TABLE, audit.object_id(key["token"]), None,
                 listed_key(key).model_dump())


def delete_key(tx: Transaction, actor: Actor | None, key: Item,
               refusal: BadRequest | None = None) -> None:
    stores().keys.delete(tx, key, refusal)
    audit.record(tx, actor, audit.DELETED, audit.KEY_TABLE, audit.object_id(key["token"]),
                 listed_key(key).model_dump(), None)


def _owner_of(request: KeyGenerateRequest, caller: Caller) -> str | None:
    if caller.is_admin:
        return request.user_id
    if request.user_id and request.user_id != caller.user_id:
        raise Forbidden("You may only generate keys for yourself.")
    return caller.user_id


def generate_key(actor: Actor, request: KeyGenerateRequest) -> GeneratedKey:
    caller = actor.caller
    check_gate(caller, Action.KEY_GENERATE)
    user_id = _owner_of(request, caller)
    # The owner's row and, for a team key, the team and the caller's membership: one read.
    refs: list[Ref] = [UserRef(user_id)] if user_id else []
    if request.team_id:
        refs.append(TeamRef(request.team_id))
        if caller.user_id:
            refs.append(MemberRef(request.team_id, caller.user_id))
    found = stores().items.read(refs)
    if request.team_id:
        team = found.get(TeamRef(request.team_id))
        role = (found.get(MemberRef(request.team_id, caller.user_id or "")) or {}).get("role")
        exists = team is not None and team.get("status") == ACTIVE
        relations = {Relation.SELF} if exists and (caller.is_admin or role == "admin") else set()
        authorize(caller, Action.KEY_GENERATE, exists=exists, what=f"Team {request.team_id}",
                  relations=relations)
    else:
        authorize(caller, Action.KEY_GENERATE, relations={Relation.SELF})
    limits.check_numbers(request)
    period = limits.parse_duration(request.budget_duration)
    limits.check_json_sizes(metadata=request.metadata, models=request.models)
    lifetime = limits.parse_duration(request.duration, "duration")
    owner = [found.get(UserRef(user_id)) if user_id else None]

    def attempt() -> GeneratedKey:
        try:
            return _commit_new_key(actor, request, user_id, owner[0], period, lifetime)
        except TransactionCancelled:
            # The owner's row appeared meanwhile, or a conflict: read it again for the retry.
            owner[0] = stores().users.get(user_id) if user_id else None
            raise

    return retry(attempt, "Too many concurrent changes; please retry")


def _commit_new_key(actor: Actor, request: KeyGenerateRequest, user_id: str | None,
                    owner: Item | None, period: BudgetPeriod | None,
                    lifetime: BudgetPeriod | None) -> GeneratedKey:
    now = utcnow()
    stamp = to_iso(now)
    tx = stores().transaction()
    owners = [directory.ResolvedMember(user_id, None, "user", owner)] if user_id else []
    directory.add_missing_users(tx, actor, owners, stamp)
    reset_at = to_iso(period.first_reset(now)) if period else None
    raw, key = new_key(
        user_id=user_id, team_id=request.team_id,
        user_role=owners[0].user["user_role"] if owners and owners[0].user else None, now=stamp,
        key_alias=request.key_alias, models=request.models, max_budget=request.max_budget,
        budget_duration=request.budget_duration, budget_reset_at=reset_at,
        budget_anchor=reset_at, metadata=request.metadata,
        allowed_routes=request.allowed_routes or None,
        expires=to_iso(lifetime.first_reset(now)) if lifetime else None)
    create_key(tx, actor, key)
    if request.team_id:
        stores().teams.check_active(tx, request.team_id,
                                    refusal=NotFound(f"Team {request.team_id} not found"))
        if not actor.caller.is_admin:  # a team admin still, when the key is made
            stores().members.check_role(
                tx, request.team_id, actor.caller.user_id or "", "admin",
                refusal=Forbidden(f"Your key is not allowed to {Action.KEY_GENERATE.value}."))
    tx.commit()
    return GeneratedKey(**listed_key(key).model_dump(), key=raw)


def key_info(actor: Actor, key: str | None) -> KeyInfo:
    caller = actor.caller
    check_gate(caller, Action.KEY_READ)
    token = (token_for(key) or "") if key else caller.token
    item = stores().keys.with_spend(token) if token else None
    owner = item is not None and item.get("user_id") and item.get("user_id") == caller.user_id
    authorize(caller, Action.KEY_READ, exists=item is not None, what="Key",
              relations={Relation.OWNER} if owner else set())
    assert item is not None  # authorize refused an unknown key
    return KeyInfo(key=token, info=listed_key(item))


def _delete_relations(caller: Caller, item: Item, team_roles: dict[str, str]) -> set[Relation]:
    relations = set()
    if item.get("user_id") and item["user_id"] == caller.user_id:
        relations.add(Relation.OWNER)
    if team_roles.get(item.get("team_id") or "") == "admin":
        relations.add(Relation.TEAM_ADMIN)
    return relations


def delete_keys(actor: Actor, request: KeyDeleteRequest) -> KeysDeleted:
    caller = actor.caller
    check_gate(caller, Action.KEY_DELETE)
    tokens = list(dict.fromkeys(token_for(k) or "" for k in request.keys))
    found = {ref.token: item for ref, item in
             stores().items.read(KeyRef(t) for t in tokens if t).items()
             if isinstance(ref, KeyRef)}
    # The caller's team roles matter only for keys of others (a team admin may delete those).
    team_roles = {} if caller.is_admin else stores().members.roles_of(caller.user_id, {
        i["team_id"] for i in found.values()
        if i.get("team_id") and i.get("user_id") != caller.user_id})
    for token in tokens:
        item = found.get(token)
        authorize(caller, Action.KEY_DELETE, exists=item is not None, what="Key",
                  relations=_delete_relations(caller, item or {}, team_roles))
    tx = stores().transaction()
    for token in tokens:
        # A conflict or throttling is not a deleted key: that stays a 503 to retry.
        delete_key(tx, actor, found[token],
                   BadRequest("Some of these keys were deleted concurrently; retry"))
    tx.commit()
    return KeysDeleted(deleted_keys=tokens)
