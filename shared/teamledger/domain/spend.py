"""POST /spend/track: a gateway reports what a key spent; the amount goes to the key, its user,
its team and the user's membership in that team, in one transaction, and the answer says who is
over budget. A report with a request_id counts once: its note is in the same transaction.

The amounts are counter additions (SpendStore), so concurrent reports never lose one another
and 100 reports of 0.01 make exactly 1.00. An owner that is gone (a team: being deleted) is
left out and the transaction sent again. The answer is read back after the commit (it includes
what concurrent reports added), and the team's place in the spend order follows.
Spend increments are counters, not changes of configuration: no audit record.
"""

import math
from datetime import timedelta
from typing import Any

from teamledger.domain.callers import Actor
from teamledger.domain.keys import token_for
from teamledger.domain.limits import MAX_AMOUNT
from teamledger.domain.policy import Action, authorize
from teamledger.errors import BadRequest, NotFound, TransactionCancelled
from teamledger.http.models import BudgetState, SpendTracked, SpendTrackRequest
from teamledger.store import stores
from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef
from teamledger.store.retry import retry
from teamledger.timestamps import utcnow

Item = dict[str, Any]
SPEND_DECIMALS = 10
MIN_SPEND = 10.0 ** -SPEND_DECIMALS
# How long a report's request_id is remembered: longer than any client's retry loop.
REQUEST_ID_TTL = timedelta(hours=24)


def scopes_of(key: Item) -> dict[str, Ref]:
    """The budgets a key's spend counts against, by scope name."""
    user_id, team_id = key.get("user_id"), key.get("team_id")
    scopes: dict[str, Ref] = {"key": KeyRef(key["token"])}
    if user_id:
        scopes["user"] = UserRef(user_id)
    if team_id:
        scopes["team"] = TeamRef(team_id)
    if user_id and team_id:
        scopes["team_membership"] = MemberRef(team_id, user_id)
    return scopes


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
    token = token_for(value)
    key = stores().keys.get(token) if token else None
    if key is None:
        raise NotFound("Key not found")
    counted_once = (key["token"], request.request_id) if request.request_id else None
    scopes = add_spend(scopes_of(key), amount, counted_once)
    return _answer(scopes)


def add_spend(scopes: dict[str, Ref], amount: float,
              counted_once: tuple[str, str] | None = None) -> dict[str, Ref]:
    """Add the amount to every scope that still exists; returns the ones it went to.
    `counted_once` (key token, request id): in the same transaction, the note that this report
    is counted; a report whose note exists already adds nothing (a retry)."""
    remaining = dict(scopes)
    first = 1 if counted_once else 0  # the scopes' writes come after the note

    def attempt() -> dict[str, Ref]:
        tx = stores().transaction()
        if counted_once:
            expires = int((utcnow() + REQUEST_ID_TTL).timestamp())
            stores().spend.claim(tx, *counted_once, expires)
        for ref in remaining.values():
            stores().spend.add(tx, ref, amount)
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if "ValidationException" in cancelled.reasons:  # retrying cannot help
                raise BadRequest("This spend cannot be added to these totals") from cancelled
            if counted_once and cancelled.failed_at(0):
                return remaining  # counted before: the answer is the totals as they are
            gone = {name for n, name in enumerate(remaining, first)
                    if cancelled.failed_at(n)}
            if "key" in gone:
                raise NotFound("Key not found") from cancelled
            if "team" in gone:
                gone.add("team_membership")  # a team being deleted takes no more spend
            for name in gone:
                remaining.pop(name, None)
            raise
        return remaining

    return retry(attempt, "Too many concurrent reports for this key; please retry")


def _answer(scopes: dict[str, Ref]) -> SpendTracked:
    found = stores().items.read(scopes.values())
    states = {}
    for name, ref in scopes.items():
        item = found.get(ref)
        if item is None:
            continue
        states[name] = _state(item)
        if name == "team":
            stores().orders.place_spend(item["team_id"], item.get("spend") or 0.0)
    return SpendTracked(**states)


def _state(item: Item) -> BudgetState:
    spend = float(item.get("spend") or 0.0)
    max_budget = item.get("max_budget")
    return BudgetState(spend=spend, max_budget=max_budget,
                       budget_exceeded=max_budget is not None and spend >= max_budget)
