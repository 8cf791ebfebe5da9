"""Changes of a key: /key/update (its fields), /key/regenerate (a new raw key for the same key,
with changed fields). Each is one transaction with one `updated` record of the key.

A key has a stable id, `key_id` (its first token: keys stored before it existed have none, and
their token is it), that names its counter, its reservations and its audit records, so spend
before and after a regeneration adds up and `/audit?object_id=` shows the key's whole story.
A regeneration moves the key's item to the new token (KeyStore.replace); with `grace_period`
the old token's item points to it until the period ends, then the old key is refused (401).
"""

import secrets
from datetime import timedelta
from typing import Any

from teamledger.domain import audit, limits
from teamledger.domain.callers import Actor, Caller, token_of
from teamledger.domain.durations import BudgetPeriod
from teamledger.domain.keys import token_for
from teamledger.domain.policy import (
    KEY_LIMIT_FIELDS,
    Action,
    Relation,
    authorize,
    check_gate,
    key_route_relations,
    member_permissions,
)
from teamledger.domain.scopes import stable_id
from teamledger.domain.views import listed_key
from teamledger.errors import BadRequest, Forbidden, NotFound, TransactionCancelled
from teamledger.http.models import (
    GeneratedKey,
    Key,
    KeyChanges,
    KeyRegenerateRequest,
    KeyUpdateRequest,
)
from teamledger.store import counters, stores
from teamledger.store.refs import MemberRef, Ref, TeamRef
from teamledger.store.retry import retry
from teamledger.store.teams import ACTIVE
from teamledger.timestamps import from_iso, to_iso, utcnow

Item = dict[str, Any]
UPDATE_ROUTE, REGENERATE_ROUTE = "/key/update", "/key/regenerate"  # team_member_permissions
SET_AS_SENT = ("key_alias", "models", "metadata", "blocked", "max_budget")
BUSY = "Too many concurrent changes to this key; please retry"
# Not in a record: the spend is a counter's, not a change of the key; `token_id` is `token`.
NOT_COMPARED = ("spend", "updated_at", "token_id")


def update_key(actor: Actor, request: KeyUpdateRequest) -> Key:
    change = _Change(actor, Action.KEY_UPDATE, UPDATE_ROUTE, request)
    written, _ = change.commit(request.key, regenerate=False, grace=None)
    return written


def regenerate_key(actor: Actor, request: KeyRegenerateRequest,
                   key: str | None = None) -> GeneratedKey:
    """`key`: the key named in the path (/key/{key}/regenerate), else the body's."""
    name = key or request.key
    if not name:
        raise BadRequest("Name the key to regenerate: `key` (its token or the key itself)")
    change = _Change(actor, Action.KEY_REGENERATE, REGENERATE_ROUTE, request)
    grace = limits.parse_duration(request.grace_period, "grace_period") \
        if request.grace_period is not None else None
    written, raw = change.commit(name, regenerate=True, grace=grace)
    return GeneratedKey(**written.model_dump(), key=raw)


class _Change:
    def __init__(self, actor: Actor, action: Action, route: str, request: KeyChanges):
        self.actor, self.action, self.route, self.request = actor, action, route, request
        self.target_role: str | None = None  # the caller's role in the team a key moves to
        # Only sent fields change, and null changes nothing (as LiteLLM).
        self.sent = {f: getattr(request, f) for f in request.model_fields_set
                     if f in KeyChanges.model_fields and getattr(request, f) is not None}

    def commit(self, name: str, *, regenerate: bool,
               grace: BudgetPeriod | None) -> tuple[Key, str | None]:
        caller = self.actor.caller
        check_gate(caller, self.action)
        token = token_for(name) or ""
        item = stores().keys.with_spend(token) if token else None
        if item is not None and item["token"] != token:
            # Named by an old token in its grace period: the key as stored, not as that
            # token's reads bound its expiry.
            item = stores().keys.with_spend(item["token"])
        self._authorize(caller, item)
        assert item is not None  # authorize refused an unknown key
        limits.check_numbers(self.request, limits=("tpm_limit", "rpm_limit"))
        period = limits.parse_duration(self.sent.get("budget_duration"))
        lifetime = limits.parse_duration(self.sent.get("duration"), "duration")
        limits.check_json_sizes(metadata=self.sent.get("metadata"),
                                models=self.sent.get("models"))
        current: list[Item | None] = [item]

        def attempt() -> tuple[Key, str | None]:
            if current[0] is None:
                raise NotFound("Key not found")
            key = current[0]
            try:
                return self._write(key, regenerate, period, lifetime, grace)
            except TransactionCancelled:
                current[0] = stores().keys.with_spend(key["token"])  # for the retry
                raise

        return retry(attempt, BUSY)

    # --- who may ------------------------------------------------------------------------

    def _authorize(self, caller: Caller, item: Item | None) -> None:
        source = (item or {}).get("team_id")
        target = self.sent.get("team_id")
        moves = item is not None and isinstance(target, str) and target != source
        # Admins need no relation: only a team the key moves to (it must exist).
        teams = {t for t in (None if caller.is_admin else source, target if moves else None)
                 if t}
        found = self._read_teams(caller, teams)
        relations = self._team_relations(caller, found, source) if source else set()
        if item is not None and item.get("user_id") and item["user_id"] == caller.user_id:
            relations.add(Relation.OWNER)
        authorize(caller, self.action, exists=item is not None, what="Key", relations=relations)
        assert item is not None
        if moves and isinstance(target, str):  # allowed on the team it goes to as well
            team = found.get(TeamRef(target))
            exists = team is not None and team.get("status") == ACTIVE
            self.target_role = self._role(caller, found, target)
            authorize(caller, self.action, exists=exists, what=f"Team {target}",
                      relations=self._team_relations(caller, found, target) if exists else set())
        # Blocking is anyone's who may update the key; unblocking is a limit's change.
        limit_changes = [f for f in KEY_LIMIT_FIELDS if f in self.sent
                         and self.sent[f] != item.get(f, False if f == "blocked" else None)
                         and not (f == "blocked" and self.sent[f])]
        if limit_changes:
            team_id = target if moves else source
            limit_relations = set()
            if team_id and self._role(caller, found, team_id) == "admin":
                limit_relations.add(Relation.TEAM_ADMIN)
            if not team_id and item.get("user_id") == caller.user_id:
                limit_relations.add(Relation.SELF)
            authorize(caller, Action.KEY_LIMITS, relations=limit_relations)

    def _read_teams(self, caller: Caller, teams: set[str]) -> dict[Ref, Item]:
        """The teams and the caller's member items in them: one read."""
        refs: list[Ref] = [TeamRef(t) for t in teams]
        if caller.user_id and not caller.is_admin:
            refs += [MemberRef(t, caller.user_id) for t in teams]
        return stores().items.read(refs) if refs else {}

    @staticmethod
    def _role(caller: Caller, found: dict[Ref, Item], team_id: str) -> str | None:
        member = found.get(MemberRef(team_id, caller.user_id or ""))
        return str(member["role"]) if member else None

    def _team_relations(self, caller: Caller, found: dict[Ref, Item],
                        team_id: str) -> set[Relation]:
        team = found.get(TeamRef(team_id))
        if caller.is_admin or team is None or team.get("status") != ACTIVE:
            return set()
        return key_route_relations(self.route, self._role(caller, found, team_id),
                                   member_permissions(team))

    # --- what changes -------------------------------------------------------------------

    def _write(self, item: Item, regenerate: bool, period: BudgetPeriod | None,
               lifetime: BudgetPeriod | None,
               grace: BudgetPeriod | None) -> tuple[Key, str | None]:
        now = utcnow()
        after = {k: v for k, v in item.items() if k != "spend"} | {"updated_at": to_iso(now)}
        after |= {f: self.sent[f] for f in SET_AS_SENT if f in self.sent}
        after |= {f: int(self.sent[f]) for f in ("tpm_limit", "rpm_limit") if f in self.sent}
        if "team_id" in self.sent:
            after["team_id"] = self.sent["team_id"]
        restart = period is not None and self.sent["budget_duration"] != item.get(
            "budget_duration")
        if period is not None and restart:
            reset_at = to_iso(period.first_reset(now))
            after |= {"budget_duration": self.sent["budget_duration"],
                      "budget_reset_at": reset_at, "budget_anchor": reset_at}
        if lifetime is not None:
            after["expires"] = to_iso(lifetime.first_reset(now))
        raw = None
        if regenerate:
            raw = "sk-" + secrets.token_urlsafe(32)
            after |= {"token": token_of(raw), "key_name": f"sk-...{raw[-4:]}",
                      "key_id": stable_id(item)}
        before_view, after_view = _compared(item), _compared(after)
        before_value, updated_values = audit.changed_fields(before_view, after_view)
        if not updated_values and not restart:
            return listed_key(item), None  # nothing changes: nothing written, no record
        spend = 0.0 if restart else item.get("spend", 0.0)
        tx = stores().transaction()
        grace_until = to_iso(grace.first_reset(now)) if grace else None
        budget = after.get("max_budget") if "max_budget" in updated_values else counters.KEEP
        written = stores().keys.replace(
            tx, item, after, budget=budget, restart=restart, grace_until=grace_until,
            pointer_ttl=_ttl(grace_until))
        target = self.sent.get("team_id")
        if target and target != item.get("team_id"):
            stores().teams.check_active(tx, target, refusal=NotFound(f"Team {target} not found"))
            caller = self.actor.caller
            if not caller.is_admin:  # still a member of it, when the key moves there
                stores().members.check_role(
                    tx, target, caller.user_id or "", self.target_role or "admin",
                    refusal=Forbidden(f"Your key is not allowed to {self.action.value}."))
        if restart:
            before_value["spend"], updated_values["spend"] = item.get("spend", 0.0), 0.0
        # A move is in the timeline of the team the key moves to (docs/api.md, GET /audit)
        audit.record(tx, self.actor, audit.UPDATED, audit.KEY_TABLE,
                     audit.object_id(stable_id(item)), before_value, updated_values,
                     team_id=after.get("team_id"))
        tx.commit()
        return listed_key(written | {"spend": spend}), raw


def _compared(item: Item) -> Item:
    return {k: v for k, v in listed_key(item).model_dump().items() if k not in NOT_COMPARED}


def _ttl(grace_until: str | None) -> int | None:
    """A pointer's TTL: a day after its grace period (TTL deletes late; reads check the
    time)."""
    if grace_until is None:
        return None
    return int((from_iso(grace_until) + timedelta(days=1)).timestamp())
