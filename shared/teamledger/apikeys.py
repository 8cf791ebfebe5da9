"""Virtual keys: only sha256(key) is stored; the raw key is returned once, by generate."""

import re
import secrets

from teamledger import audit, db, itemkeys, limits, teamstore, users
from teamledger.auth import Actor, Caller, token_of
from teamledger.durations import BudgetPeriod
from teamledger.errors import BadRequest, Busy, Forbidden, NotFound
from teamledger.models import (
    GeneratedKey,
    Key,
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyInfo,
    KeysDeleted,
)
from teamledger.policy import Action, Relation, authorize, check_gate
from teamledger.timestamps import to_iso, utcnow

KEY_FIELDS = tuple(Key.model_fields)
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


def token_for(value: str) -> str | None:
    """A key named by its token or (for compatibility) by the raw key itself."""
    if _TOKEN.match(value):
        return value
    return token_of(value) if value.startswith("sk-") else None


def listed(item: dict) -> Key:
    return Key(**{k: item.get(k) for k in KEY_FIELDS if item.get(k) is not None})


def new_key_item(*, user_id: str | None, team_id: str | None, user_role: str | None, now: str,
                 **fields) -> tuple[str, dict]:
    raw = "sk-" + secrets.token_urlsafe(32)
    token = token_of(raw)
    item = itemkeys.api_key(token) | itemkeys.key_index(token, user_id, team_id) | {
        "entity": "key", "token": token, "key_name": f"sk-...{raw[-4:]}", "user_id": user_id,
        "team_id": team_id, "user_role": user_role, "models": [], "spend": 0.0,
        "blocked": False, "metadata": {}, "created_at": now,
    }
    item.update({k: v for k, v in fields.items() if v is not None})
    return raw, item | itemkeys.reset_index(item, item.get("budget_reset_at"))


def add_key_creation(tx: db.Transaction, actor: Actor, item: dict) -> int:
    index = tx.put(item, condition="attribute_not_exists(PK)")
    audit.record(tx, actor, audit.CREATED, audit.KEY_TABLE, item["token"], None,
                 listed(item).model_dump())
    return index


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
    keys = [itemkeys.user(user_id)] if user_id else []
    if request.team_id:
        keys += teamstore.summary_keys(request.team_id, caller.user_id)
    items = db.batch_get(keys) if keys else []
    if request.team_id:
        view = teamstore.summary_view(request.team_id, items)
        relations = {Relation.SELF} if view and (
            caller.is_admin or view.role_of(caller.user_id) == "admin") else set()
        authorize(caller, Action.KEY_GENERATE, exists=view is not None,
                  what=f"Team {request.team_id}", relations=relations)
    else:
        authorize(caller, Action.KEY_GENERATE, relations={Relation.SELF})
    limits.check_numbers(request)
    period = limits.parse_duration(request.budget_duration)
    lifetime = limits.parse_duration(request.duration, "duration")
    owner = next((i for i in items if i.get("entity") == "user"), None)
    for _ in db.attempts():
        try:
            return _commit_new_key(actor, request, user_id, owner, period, lifetime)
        except db.TransactionCancelled as cancelled:
            if not cancelled.retryable:
                raise
            owner = db.get(itemkeys.user(user_id)) if user_id else None
    raise Busy("Too many concurrent changes; please retry")


def _commit_new_key(actor: Actor, request: KeyGenerateRequest, user_id: str | None,
                    owner: dict | None, period: BudgetPeriod | None,
                    lifetime: BudgetPeriod | None) -> GeneratedKey:
    now = utcnow()
    stamp = to_iso(now)
    tx = db.Transaction()
    owners = [users.ResolvedMember(user_id, None, "user", owner)] if user_id else []
    users.add_missing_users(tx, actor, owners, stamp)
    reset_at = to_iso(period.first_reset(now)) if period else None
    raw, item = new_key_item(
        user_id=user_id, team_id=request.team_id,
        user_role=owners[0].user["user_role"] if owners else None, now=stamp,
        key_alias=request.key_alias, models=request.models, max_budget=request.max_budget,
        budget_duration=request.budget_duration, budget_reset_at=reset_at,
        budget_anchor=reset_at, metadata=request.metadata,
        expires=to_iso(lifetime.first_reset(now)) if lifetime else None)
    add_key_creation(tx, actor, item)
    team_at = teamstore.check_active(tx, request.team_id) if request.team_id else None
    try:
        tx.commit()
    except db.TransactionCancelled as cancelled:
        if team_at is not None and cancelled.failed_at(team_at):
            raise NotFound(f"Team {request.team_id} not found") from cancelled
        raise  # the owner's row appeared meanwhile, or a conflict: the caller tries again
    return GeneratedKey(**listed(item).model_dump(), key=raw)


def _load(value: str) -> tuple[str, dict | None]:
    token = token_for(value)
    return (token or "", db.get(itemkeys.api_key(token)) if token else None)


def key_info(actor: Actor, key: str | None) -> KeyInfo:
    caller = actor.caller
    check_gate(caller, Action.KEY_READ)
    token, item = _load(key) if key else (caller.token, db.get(itemkeys.api_key(caller.token)))
    owner = item is not None and item.get("user_id") and item.get("user_id") == caller.user_id
    authorize(caller, Action.KEY_READ, exists=item is not None, what="Key",
              relations={Relation.OWNER} if owner else set())
    return KeyInfo(key=token, info=listed(item))


def _delete_relations(caller: Caller, item: dict, team_roles: dict[str, str]) -> set[Relation]:
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
    found = {i["token"]: i for i in db.batch_get([itemkeys.api_key(t) for t in tokens if t])}
    # The caller's team roles matter only for keys of others (a team admin may delete those).
    team_roles = {} if caller.is_admin else teamstore.roles_of(caller.user_id, {
        i["team_id"] for i in found.values()
        if i.get("team_id") and i.get("user_id") != caller.user_id})
    for token in tokens:
        item = found.get(token)
        authorize(caller, Action.KEY_DELETE, exists=item is not None, what="Key",
                  relations=_delete_relations(caller, item or {}, team_roles))
    tx = db.Transaction()
    for token in tokens:
        add_key_deletion(tx, actor, found[token])
    try:
        tx.commit()
    except db.TransactionCancelled as cancelled:
        if "ConditionalCheckFailed" not in cancelled.reasons:
            raise  # a conflict or throttling, not a deleted key: a 503 to retry (api.py)
        raise BadRequest("Some of these keys were deleted concurrently; retry") from cancelled
    return KeysDeleted(deleted_keys=tokens)


def add_key_deletion(tx: db.Transaction, actor: Actor | None, item: dict) -> None:
    tx.delete(itemkeys.api_key(item["token"]), condition="attribute_exists(PK)")
    audit.record(tx, actor, audit.DELETED, audit.KEY_TABLE, item["token"],
                 listed(item).model_dump(), None)
