"""Virtual keys: only sha256(key) is stored; the raw key is returned once, by generate."""

import re
import secrets
from typing import Any

from teamledger.domain import audit, limits
from teamledger.domain.callers import Actor, Caller, token_of
from teamledger.domain.durations import BudgetPeriod
from teamledger.domain.policy import (
    Action,
    Relation,
    authorize,
    check_gate,
    key_route_relations,
    member_permissions,
)
from teamledger.domain.scopes import stable_id
from teamledger.domain.views import listed_key
from teamledger.errors import BadRequest, Forbidden, NotFound
from teamledger.http.models import (
    CallerKey,
    GeneratedKey,
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyInfo,
    KeysDeleted,
)
from teamledger.store import stores
from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef
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


def new_key(*, user_id: str | None, team_id: str | None, now: str,
            **fields: Any) -> tuple[str, Item]:
    """A raw key and what is stored of it (never the raw key itself). No copy of the user's
    role: authentication reads it from the user's row."""
    raw = "sk-" + secrets.token_urlsafe(32)
    key: Item = {"token": token_of(raw), "key_name": f"sk-...{raw[-4:]}", "user_id": user_id,
                 "team_id": team_id, "models": [], "spend": 0.0,
                 "blocked": False, "metadata": {}, "created_at": now, "updated_at": now}
    return raw, key | {k: v for k, v in fields.items() if v is not None}


def create_key(tx: Transaction, actor: Actor, key: Item) -> None:
    stores().keys.put_new(tx, key)
    audit.record(tx, actor, audit.CREATED, audit.KEY_TABLE, audit.object_id(key["token"]), None,
                 listed_key(key).model_dump(), team_id=key.get("team_id"))


def delete_key(tx: Transaction, actor: Actor | None, key: Item,
               refusal: BadRequest | None = None) -> None:
    stores().keys.delete(tx, key, refusal)
    # Under its stable id (its first token): a regenerated key's records are all there.
    audit.record(tx, actor, audit.DELETED, audit.KEY_TABLE, audit.object_id(stable_id(key)),
                 listed_key(key).model_dump(), None, team_id=key.get("team_id"))


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
    # For a team key, the team and the caller's membership: one read. The owner's row is not
    # read: a key may name a user who has none (LiteLLM makes none), and has no role then.
    refs: list[Ref] = []
    if request.team_id:
        refs.append(TeamRef(request.team_id))
        if caller.user_id:
            refs.append(MemberRef(request.team_id, caller.user_id))
    found = stores().items.read(refs) if refs else {}
    if request.team_id:
        team = found.get(TeamRef(request.team_id))
        role = (found.get(MemberRef(request.team_id, caller.user_id or "")) or {}).get("role")
        exists = team is not None and team.get("status") == ACTIVE
        relations = key_route_relations("/key/generate", role, member_permissions(team)) \
            if exists else set()
        authorize(caller, Action.KEY_GENERATE, exists=exists, what=f"Team {request.team_id}",
                  relations=relations)
    else:
        role = None
        authorize(caller, Action.KEY_GENERATE, relations={Relation.SELF})
    limits.check_numbers(request)
    period = limits.parse_duration(request.budget_duration)
    limits.check_json_sizes(metadata=request.metadata, models=request.models)
    lifetime = limits.parse_duration(request.duration, "duration")
    return retry(lambda: _commit_new_key(actor, request, user_id, period, lifetime, role),
                 "Too many concurrent changes; please retry")


def _commit_new_key(actor: Actor, request: KeyGenerateRequest, user_id: str | None,
                    period: BudgetPeriod | None, lifetime: BudgetPeriod | None,
                    role: str | None = None) -> GeneratedKey:
    now = utcnow()
    stamp = to_iso(now)
    tx = stores().transaction()
    reset_at = to_iso(period.first_reset(now)) if period else None
    raw, key = new_key(
        user_id=user_id, team_id=request.team_id, now=stamp,
        key_alias=request.key_alias, models=request.models, max_budget=request.max_budget,
        budget_duration=request.budget_duration, budget_reset_at=reset_at,
        budget_anchor=reset_at, metadata=request.metadata,
        allowed_routes=request.allowed_routes or None,
        expires=to_iso(lifetime.first_reset(now)) if lifetime else None)
    create_key(tx, actor, key)
    if request.team_id:
        stores().teams.check_active(tx, request.team_id,
                                    refusal=NotFound(f"Team {request.team_id} not found"))
        if not actor.caller.is_admin:  # still a member in that role, when the key is made
            stores().members.check_role(
                tx, request.team_id, actor.caller.user_id or "", role or "admin",
                refusal=Forbidden(f"Your key is not allowed to {Action.KEY_GENERATE.value}."))
    tx.commit()
    return GeneratedKey(**listed_key(key).model_dump(), key=raw)


def key_info(actor: Actor, key: str | None) -> KeyInfo:
    """A key; with no `key`, the caller's own (who am I), its user's role included. The
    master key is no stored key: it answers as its caller, `default_user_id`, `proxy_admin`,
    named by its label as the audit names it (nothing derived from it is ever answered)."""
    caller = actor.caller
    check_gate(caller, Action.KEY_READ)
    if not key and caller.is_master:
        label = audit.MASTER_KEY_LABEL
        return KeyInfo(key=label, info=CallerKey(
            token=label, token_id=label, key_name=None, user_id=caller.user_id,
            user_role=caller.role))
    token = (token_for(key) or "") if key else caller.token
    item = stores().keys.with_spend(token) if token else None
    relations = set()
    # Owner: a user (with a row, so a role) reads their keys; a key whose user has no row
    # reads only itself.
    if item is not None and caller.role and item.get("user_id") == caller.user_id:
        relations.add(Relation.OWNER)
    if item is not None and token == caller.token:
        relations.add(Relation.KEY_ITSELF)
    if item is not None and item.get("team_id") and not (relations or caller.reads_everything):
        relations |= team_key_relations(caller, "/key/info", {item["team_id"]}).get(
            item["team_id"], set())
    authorize(caller, Action.KEY_READ, exists=item is not None, what="Key",
              relations=relations)
    assert item is not None  # authorize refused an unknown key
    role = caller.role if token == caller.token else None
    return KeyInfo(key=token, info=CallerKey(**listed_key(item).model_dump(), user_role=role))


def team_key_relations(caller: Caller, route: str,
                       team_ids: set[str]) -> dict[str, set[Relation]]:
    """The caller's relations to each of these teams' keys for a key route (one of
    policy.KEY_ROUTES): their member items and the teams' `team_member_permissions`, in one
    read. Admins and callers without a user need none. For key/update and key/regenerate
    too (with their route)."""
    if caller.is_admin or not caller.user_id or not team_ids:
        return {}
    refs: list[Ref] = [MemberRef(t, caller.user_id) for t in team_ids]
    found = stores().items.read(refs + [TeamRef(t) for t in team_ids])
    relations: dict[str, set[Relation]] = {}
    for team_id in team_ids:
        team = found.get(TeamRef(team_id))
        if team is None or team.get("status") != ACTIVE:
            continue
        role = (found.get(MemberRef(team_id, caller.user_id)) or {}).get("role")
        relations[team_id] = key_route_relations(route, role, member_permissions(team))
    return relations


def _delete_relations(caller: Caller, item: Item,
                      team_relations: dict[str, set[Relation]]) -> set[Relation]:
    relations = set()
    if item.get("user_id") and item["user_id"] == caller.user_id:
        relations.add(Relation.OWNER)
    return relations | team_relations.get(item.get("team_id") or "", set())


def delete_keys(actor: Actor, request: KeyDeleteRequest) -> KeysDeleted:
    caller = actor.caller
    check_gate(caller, Action.KEY_DELETE)
    tokens = list(dict.fromkeys(token_for(k) or "" for k in request.keys))
    found = {ref.token: item for ref, item in
             stores().items.read(KeyRef(t) for t in tokens if t).items()
             if isinstance(ref, KeyRef)}
    # The caller's team relations matter only for keys of others (a team admin may delete
    # those, and a member the team permits /key/delete).
    team_relations = team_key_relations(caller, "/key/delete", {
        i["team_id"] for i in found.values()
        if i.get("team_id") and i.get("user_id") != caller.user_id})
    for token in tokens:
        item = found.get(token)
        authorize(caller, Action.KEY_DELETE, exists=item is not None, what="Key",
                  relations=_delete_relations(caller, item or {}, team_relations))
    tx = stores().transaction()
    for token in tokens:
        # A conflict or throttling is not a deleted key: that stays a 503 to retry.
        delete_key(tx, actor, found[token],
                   BadRequest("Some of these keys were deleted concurrently; retry"))
    tx.commit()
    return KeysDeleted(deleted_keys=tokens)
