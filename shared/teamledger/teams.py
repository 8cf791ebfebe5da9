"""The team lifecycle: create, read, update, block, delete (lists: teamlists.py)."""

import uuid

from teamledger import apikeys, audit, db, itemkeys, limits, teamstore, users
from teamledger.auth import Actor, Caller
from teamledger.config import settings
from teamledger.errors import BadRequest, Busy
from teamledger.models import (
    Member,
    Team,
    TeamDeleteRequest,
    TeamInfo,
    TeamModelsRequest,
    TeamNewRequest,
    TeamsDeleted,
    TeamUpdated,
    TeamUpdateRequest,
)
from teamledger.policy import (
    Action,
    Relation,
    authorize,
    check_gate,
    team_relations,
)
from teamledger.teamstore import TeamView
from teamledger.timestamps import to_iso, utcnow

CLEANUP_BATCH = 49  # two items each (delete + audit), plus the team item: 99 of 100
CLEANUP_ROUNDS = 5  # fresh looks after lost races; each look deletes all it found
MAX_TEAM_MODELS = 1000  # as many as /team/new and /team/update accept
UPDATABLE = ("team_alias", "organization_id", "metadata", "tpm_limit", "rpm_limit",
             "max_parallel_requests", "max_budget", "models", "blocked")


def _metadata(base: dict | None, request) -> dict:
    """tags and guardrails live inside metadata (API.md)."""
    metadata = dict(base or {})
    for name in ("tags", "guardrails"):
        if getattr(request, name, None) is not None:
            metadata[name] = getattr(request, name)
    return metadata


def _model_table(aliases: dict | None) -> dict | None:
    return {"model_aliases": aliases} if aliases else None


def _members_of_new_team(caller: Caller, request: TeamNewRequest) -> list[Member]:
    members = list(request.members_with_roles)
    if caller.user_id and all(m.user_id != caller.user_id for m in members):
        members.insert(0, Member(user_id=caller.user_id, role="admin"))
    return members


def create_team(actor: Actor, request: TeamNewRequest) -> Team:
    authorize(actor.caller, Action.TEAM_CREATE)
    limits.check_numbers(request)
    period = limits.parse_duration(request.budget_duration)
    for _ in db.attempts():
        members = users.resolve_members(_members_of_new_team(actor.caller, request))
        now = utcnow()
        stamp = to_iso(now)
        reset_at = to_iso(period.first_reset(now)) if period else None
        values = {
            "team_id": request.team_id or str(uuid.uuid4()), "team_alias": request.team_alias,
            "organization_id": request.organization_id,
            "metadata": _metadata(request.metadata, request), "tpm_limit": request.tpm_limit,
            "rpm_limit": request.rpm_limit, "max_parallel_requests": request.max_parallel_requests,
            "max_budget": request.max_budget, "budget_duration": request.budget_duration,
            "budget_reset_at": reset_at, "budget_anchor": reset_at, "models": request.models,
            "blocked": request.blocked, "spend": 0.0,
            "litellm_model_table": _model_table(request.model_aliases), "model_id": None,
            "created_at": stamp, "updated_at": stamp,
        }
        member_items = [teamstore.member_item(values["team_id"], m.user_id, m.user_email,
                                              m.role, stamp, order)
                        for order, m in enumerate(members)]
        item = teamstore.team_item(values, member_items)
        tx = db.Transaction()
        team_at = tx.put(item, condition="attribute_not_exists(PK)")
        audit.record(tx, actor, audit.CREATED, audit.TEAM_TABLE, item["team_id"], None,
                     teamstore.team_public(item) | {"members_with_roles": [
                         teamstore.member_public(m) for m in member_items]})
        teamstore.count_teams(tx, +1)
        users.add_missing_users(tx, actor, members, stamp)
        for member in member_items:
            teamstore.add_member(tx, actor, member)
        try:
            tx.commit()
        except db.TransactionCancelled as cancelled:
            if cancelled.failed_at(team_at):
                raise BadRequest(f"Team id {item['team_id']} already exists") from cancelled
            continue  # a user row appeared or changed meanwhile: resolve again
        return teamstore.to_team(TeamView(item, member_items))
    raise Busy("Too many concurrent changes; please retry")


def load_for(caller: Caller, action: Action, team_id: str,
             extra: set[Relation] | frozenset[Relation] = frozenset()) -> TeamView:
    """The team, once the caller may do `action` to it (`extra`: relations the request
    itself gives, such as a self-join)."""
    check_gate(caller, action)
    view = teamstore.load_team(team_id)
    relations = team_relations(caller, team_id, view.role_of(caller.user_id) if view else None)
    authorize(caller, action, exists=view is not None, what=f"Team {team_id}",
              relations=relations | set(extra))
    return view


def available_teams(actor: Actor) -> list[Team]:
    """The teams of AVAILABLE_TEAMS the caller is not in (API.md: GET /team/available)."""
    caller = actor.caller
    authorize(caller, Action.TEAMS_AVAILABLE)
    team_ids = sorted(settings().available_teams)
    joined = teamstore.roles_of(caller.user_id, set(team_ids))
    return teamstore.load_teams([t for t in team_ids if t not in joined])


def team_info(actor: Actor, team_id: str) -> TeamInfo:
    view = load_for(actor.caller, Action.TEAM_READ, team_id)
    keys = [apikeys.listed(k) for k in teamstore.team_keys(team_id)]
    return TeamInfo(team_id=team_id, team_info=teamstore.to_team(view), keys=keys,
                    team_memberships=[teamstore.membership(m) for m in view.members])


def _planned_changes(team: dict, request: TeamUpdateRequest) -> dict:
    sent = request.model_fields_set
    changes = {f: getattr(request, f) for f in UPDATABLE
               if f in sent and not (f in ("blocked", "models") and getattr(request, f) is None)}
    if "metadata" in changes or request.tags is not None or request.guardrails is not None:
        base = changes["metadata"] if "metadata" in changes else team.get("metadata")
        changes["metadata"] = _metadata(base, request)
    if "model_aliases" in sent:
        changes["litellm_model_table"] = _model_table(request.model_aliases)
    if "budget_duration" in sent and request.budget_duration != team.get("budget_duration"):
        period = limits.parse_duration(request.budget_duration)
        reset_at = to_iso(period.first_reset(utcnow())) if period else None
        changes |= {"budget_duration": request.budget_duration, "budget_reset_at": reset_at,
                    "budget_anchor": reset_at}
        if period:
            changes["spend"] = 0.0
    return changes


def _apply(actor: Actor, view: TeamView, changes: dict, action: str) -> dict:
    """Write the fields that really change, with their audit record; returns the new item."""
    team = view.team
    before, after = audit.changed_fields(team, changes)
    if not after:
        return team
    new = team | after | {"updated_at": to_iso(utcnow()), "version": team["version"] + 1}
    written = {k: new[k] for k in (*after, "updated_at", "version")}
    if "team_alias" in after:
        written |= itemkeys.alias_index(team["team_id"], new.get("team_alias"))
    if "spend" in after:
        written |= itemkeys.spend_index(team["team_id"], new.get("spend"))
    if "budget_reset_at" in after:
        written |= {"GSI4PK": None, "GSI4SK": None} | itemkeys.reset_index(
            team, new.get("budget_reset_at"))
    expression, names, values = db.update_expression(written)
    names |= {"#version": "version", "#status": "status"}
    tx = db.Transaction()
    tx.update(itemkeys.team(team["team_id"]), expression, names=names,
              values=values | {":v": team["version"], ":active": teamstore.ACTIVE},
              condition="#version = :v AND #status = :active")
    audit.record(tx, actor, action, audit.TEAM_TABLE, team["team_id"],
                 {k: v for k, v in before.items() if k != "budget_anchor"},
                 {k: v for k, v in after.items() if k != "budget_anchor"})
    tx.commit()
    return {k: v for k, v in new.items() if v is not None}


def _change_team(actor: Actor, team_id: str, plan, action_of) -> TeamView:
    """Read, check, write with a version condition; a lost race starts again from the read."""
    for _ in db.attempts():
        view = load_for(actor.caller, Action.TEAM_MANAGE, team_id)
        changes = plan(view.team)
        try:
            view.team = _apply(actor, view, changes, action_of(changes))
        except db.TransactionCancelled:
            continue
        return view
    raise Busy("Too many concurrent changes to this team; please retry")


def update_team(actor: Actor, request: TeamUpdateRequest) -> TeamUpdated:
    def plan(team: dict) -> dict:
        limits.check_numbers(request)
        return _planned_changes(team, request)

    view = _change_team(actor, request.team_id, plan, lambda changes: audit.UPDATED)
    return TeamUpdated(team_id=request.team_id, data=teamstore.to_team(view))


def set_blocked(actor: Actor, team_id: str, blocked: bool) -> Team:
    action = audit.BLOCKED if blocked else audit.UNBLOCKED
    view = _change_team(actor, team_id, lambda team: {"blocked": blocked}, lambda _: action)
    return teamstore.to_team(view)


def add_models(actor: Actor, request: TeamModelsRequest) -> Team:
    def plan(team: dict) -> dict:
        # Order kept: the team's models first, then the new ones as named, each once.
        models = list(dict.fromkeys([*(team.get("models") or []), *request.models]))
        if len(models) > MAX_TEAM_MODELS:
            raise BadRequest(f"A team can have at most {MAX_TEAM_MODELS} models")
        return {"models": models}

    return teamstore.to_team(_change_team(actor, request.team_id, plan, lambda _: audit.UPDATED))


def delete_models(actor: Actor, request: TeamModelsRequest) -> Team:
    named = set(request.models)

    def plan(team: dict) -> dict:
        return {"models": [m for m in team.get("models") or [] if m not in named]}

    return teamstore.to_team(_change_team(actor, request.team_id, plan, lambda _: audit.UPDATED))


# --- delete ------------------------------------------------------------------------------

def delete_teams(actor: Actor, request: TeamDeleteRequest) -> TeamsDeleted:
    caller = actor.caller
    check_gate(caller, Action.TEAM_MANAGE)
    team_ids = list(dict.fromkeys(request.team_ids))
    keys = [itemkeys.team(t) for t in team_ids]
    if caller.user_id and not caller.is_admin:
        keys += [itemkeys.member(t, caller.user_id) for t in team_ids]
    items = db.batch_get(keys)
    teams = {i["team_id"]: i for i in items if i.get("entity") == "team"}
    roles = {i["team_id"]: i["role"] for i in items if i.get("entity") == "member"}
    for team_id in team_ids:
        authorize(caller, Action.TEAM_MANAGE, exists=team_id in teams, what=f"Team {team_id}",
                  relations=team_relations(caller, team_id, roles.get(team_id)))
    _mark_deleting(actor, [teams[t] for t in team_ids])
    for team_id in team_ids:
        cleanup_team(actor, team_id)
    return TeamsDeleted(deleted_teams=team_ids)


def _mark_deleting(actor: Actor, teams: list[dict]) -> None:
    """One transaction: the teams vanish from every read, their keys stop authenticating."""
    active = [t for t in teams if t.get("status") == teamstore.ACTIVE]
    if not active:
        return  # an earlier delete got this far: only the cleanup is left
    tx = db.Transaction()
    for team in active:
        expression, names, values = db.update_expression(
            {"status": teamstore.DELETING, "updated_at": to_iso(utcnow()),
             **dict.fromkeys(itemkeys.INDEX_ATTRIBUTES)})
        tx.update(itemkeys.team(team["team_id"]), expression, names=names | {"#s": "status"},
                  values=values | {":active": teamstore.ACTIVE}, condition="#s = :active")
        audit.record(tx, actor, audit.DELETED, audit.TEAM_TABLE, team["team_id"],
                     teamstore.team_public(team), None)
    teamstore.count_teams(tx, -len(active))
    try:
        tx.commit()
    except db.TransactionCancelled as cancelled:
        raise Busy("These teams changed while being deleted; please retry") from cancelled


def cleanup_team(actor: Actor, team_id: str) -> None:
    """Delete a deleting team's members and keys in bounded transactions; the last one also
    deletes the team item. Idempotent: what a crashed or concurrent run already removed is
    simply not found when the next run (or this one, after a lost race) looks again."""
    for _ in db.attempts(CLEANUP_ROUNDS):
        members = [i for i in db.query_all(itemkeys.team_partition(team_id), consistent=True)
                   if i.get("entity") == "member"]
        found = [("member", m) for m in members] + [
            ("key", k) for k in teamstore.team_keys(team_id)]
        try:
            _delete_in_batches(actor, team_id, found)
        except db.TransactionCancelled:
            if not found:
                return  # the team item is gone too: a concurrent cleanup finished the job
            continue  # someone else removed part of this: look again
        return
    raise Busy(f"Team {team_id} is still being deleted; repeat the request to finish")


def _delete_in_batches(actor: Actor, team_id: str, found: list[tuple[str, dict]]) -> None:
    starts = range(0, len(found), CLEANUP_BATCH) if found else [0]
    for start in starts:
        tx = db.Transaction()
        for kind, item in found[start:start + CLEANUP_BATCH]:
            if kind == "key":
                apikeys.add_key_deletion(tx, actor, item)
            else:
                teamstore.add_member_deletion(tx, actor, item)
        if start + CLEANUP_BATCH >= len(found):
            tx.delete(itemkeys.team(team_id), condition="#s = :deleting",
                      values={":deleting": teamstore.DELETING}, names={"#s": "status"})
        tx.commit()
