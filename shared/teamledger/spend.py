"""POST /spend/track: a gateway reports what a key spent; the amount goes to the key, its user,
its team and the user's membership in that team, in one transaction, and the answer says who is
over budget.

The amounts are DynamoDB `ADD`s (decimal arithmetic, no read-modify-write), so concurrent
reports never lose one another and 100 reports of 0.01 make exactly 1.00. Each update carries
only an existence condition (a team: still active); an owner that is gone is left out and the
transaction sent again. The answer is read back after the commit (it includes what concurrent
reports added), and the team's place in the spend order (GSI6) follows with a conditional write
on the spend it was computed from, so the last writer leaves it matching the spend.
Spend increments are counters, not changes of configuration: no audit record (API.md).
"""

import math
from dataclasses import dataclass

from teamledger import apikeys, db, itemkeys, teamstore
from teamledger.auth import Actor
from teamledger.errors import BadRequest, Busy, NotFound
from teamledger.limits import MAX_AMOUNT
from teamledger.models import BudgetState, SpendTracked, SpendTrackRequest
from teamledger.policy import Action, authorize

SPEND_DECIMALS = 10
MIN_SPEND = 10.0 ** -SPEND_DECIMALS


@dataclass(frozen=True)
class Target:
    role: str  # key, user, team, team_membership
    key: dict
    condition: str = "attribute_exists(PK)"
    names: dict | None = None
    values: dict | None = None


def _targets(key_item: dict) -> list[Target]:
    user_id, team_id = key_item.get("user_id"), key_item.get("team_id")
    targets = [Target("key", itemkeys.api_key(key_item["token"]))]
    if user_id:
        targets.append(Target("user", itemkeys.user(user_id)))
    if team_id:
        targets.append(Target("team", itemkeys.team(team_id), "#status = :active",
                              {"#status": "status"}, {":active": teamstore.ACTIVE}))
    if user_id and team_id:
        targets.append(Target("team_membership", itemkeys.member(team_id, user_id)))
    return targets


def track_spend(actor: Actor, request: SpendTrackRequest) -> SpendTracked:
    authorize(actor.caller, Action.SPEND_TRACK)
    amount = request.spend
    if not (math.isfinite(amount) and MIN_SPEND <= amount <= MAX_AMOUNT):
        raise BadRequest(f"spend must be a finite number from {MIN_SPEND:.0e} to "
                         f"{MAX_AMOUNT:.0e}")
    # Whole units of 1e-10 USD: a running total then never needs more than DynamoDB's 38
    # significant digits (up to 1e15 with 10 decimals), however many amounts it adds.
    amount = round(amount, SPEND_DECIMALS)
    value = request.token or request.key
    if not value:
        raise BadRequest("Pass the key's token (or the key itself)")
    token = apikeys.token_for(value)
    key_item = db.get(itemkeys.api_key(token)) if token else None
    if key_item is None or key_item.get("entity") != "key":
        raise NotFound("Key not found")
    targets = _commit(token, _targets(key_item), amount)
    return _answer(targets)


def _commit(token: str, targets: list[Target], amount: float) -> list[Target]:
    """ADD the amount to every target that still exists; returns the ones it went to."""
    for _ in db.attempts():
        tx = db.Transaction()
        for target in targets:
            tx.update(target.key, "ADD spend :amount", condition=target.condition,
                      values={":amount": amount} | (target.values or {}), names=target.names)
        try:
            tx.commit()
        except db.TransactionCancelled as cancelled:
            if "ValidationException" in cancelled.reasons:  # retrying cannot help
                raise BadRequest("This spend cannot be added to these totals") from cancelled
            if not cancelled.retryable:
                raise  # throttled: a 503 to retry (api.py)
            gone = {t.role for n, t in enumerate(targets) if cancelled.failed_at(n)}
            if "key" in gone:
                raise NotFound("Key not found") from cancelled
            if "team" in gone:
                gone.add("team_membership")  # a team being deleted takes no more spend
            targets = [t for t in targets if t.role not in gone]
            continue
        return targets
    raise Busy(f"Too many concurrent reports for key {token[:8]}…; please retry")


def _answer(targets: list[Target]) -> SpendTracked:
    items = db.batch_get([t.key for t in targets])
    by_key = {(i["PK"], i["SK"]): i for i in items}
    states = {}
    for target in targets:
        item = by_key.get((target.key["PK"], target.key["SK"]))
        if item is None:
            continue
        states[target.role] = _state(item)
        if target.role == "team":
            _place_in_spend_order(item)
    return SpendTracked(**states)


def _state(item: dict) -> BudgetState:
    spend = float(item.get("spend") or 0.0)
    max_budget = item.get("max_budget")
    return BudgetState(spend=spend, max_budget=max_budget,
                       budget_exceeded=max_budget is not None and spend >= max_budget)


def _place_in_spend_order(team: dict) -> None:
    """GSI6 from the spend read back; skipped if the spend moved on (its writer places it)."""
    expression, names, values = db.update_expression(
        itemkeys.spend_index(team["team_id"], team.get("spend")))
    db.update_if(itemkeys.team(team["team_id"]), expression,
                 "#spend = :spend AND #status = :active",
                 values=values | {":spend": team.get("spend") or 0, ":active": teamstore.ACTIVE},
                 names=names | {"#spend": "spend", "#status": "status"})
