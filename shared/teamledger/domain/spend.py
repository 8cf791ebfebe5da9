"""POST /spend/track: a gateway reports what a key spent, after the fact; the amount goes to the
counters of the key, its user, its team and the user's membership in that team, each exactly
once, and the answer says who is over budget.

Each scope's counter takes one step (CounterStore), not a transaction: the scopes are not
updated atomically together, but none is ever counted twice or lost. A report with a request_id
first writes a note holding the steps' tokens, so a retry (or botocore's resend) with the same
id takes only the steps still missing. Spend increments are counters, not changes of
configuration: no audit record.
"""

import math
from datetime import timedelta
from typing import Any

from teamledger import money
from teamledger.domain.callers import Actor
from teamledger.domain.keys import token_for
from teamledger.domain.leases import unsure
from teamledger.domain.limits import MAX_AMOUNT
from teamledger.domain.policy import Action, authorize
from teamledger.domain.scopes import scopes_of, stable_id
from teamledger.errors import BadRequest, Busy, NotFound
from teamledger.http.models import BudgetState, SpendTracked, SpendTrackRequest
from teamledger.store import stores
from teamledger.store.counters import Outcome, Step, Writer
from teamledger.store.refs import Ref
from teamledger.store.teams import ACTIVE
from teamledger.timestamps import utcnow

Item = dict[str, Any]
SPEND_DECIMALS = 10
MIN_SPEND = 10.0 ** -SPEND_DECIMALS
# How long a report's request_id is remembered: longer than any client's retry loop.
REQUEST_ID_TTL = timedelta(hours=24)

@unsure
def track_spend(actor: Actor, request: SpendTrackRequest) -> SpendTracked:
    authorize(actor.caller, Action.SPEND_TRACK)
    amount = request.spend
    if not (math.isfinite(amount) and MIN_SPEND <= amount <= MAX_AMOUNT):
        raise BadRequest(f"spend must be a finite number from {MIN_SPEND:.0e} to "
                         f"{MAX_AMOUNT:.0e}")
    value = request.token or request.key
    if not value:
        raise BadRequest("Pass the key's token (or the key itself)")
    token = token_for(value)
    key = stores().keys.get(token) if token else None
    if key is None:
        raise NotFound("Key not found")
    scopes = scopes_of(key)
    if key.get("team_id"):  # a team being deleted (or gone) takes no more spend
        team = stores().teams.gate(key["team_id"])
        if team is None or team.get("status") != ACTIVE:
            scopes.pop("team", None)
            scopes.pop("team_membership", None)
    writer = Writer.current()
    note = {"writer": writer.id, "seq": writer.take(len(scopes)), "spend": money.units(amount),
            "scopes": list(scopes)}
    if request.request_id:
        expires = int((utcnow() + REQUEST_ID_TTL).timestamp())
        note = stores().spend.claim(stable_id(key), request.request_id, note, expires)
    return _answer(add_spend(scopes, note))


def add_spend(scopes: dict[str, Ref], note: Item) -> dict[str, Item]:
    """The note's steps (one per scope it names); returns each scope's counter after them."""
    counters = {}
    try:
        for n, name in enumerate(note["scopes"]):
            if name not in scopes:
                continue
            step = Step(scopes[name], note["writer"], int(note["seq"]) + n,
                        spend=int(note["spend"]))
            result = stores().counters.step(step)
            if result.outcome in (Outcome.APPLIED, Outcome.ALREADY):
                counters[name] = result.counter
    except (Busy, OSError):
        Writer.retire()  # the note's tokens now decide which steps applied
        raise
    if "key" not in counters:
        raise NotFound("Key not found")
    return counters


def _answer(counters: dict[str, Item]) -> SpendTracked:
    return SpendTracked(**{name: _state(counter) for name, counter in counters.items()})


def _state(counter: Item) -> BudgetState:
    spend = money.usd(counter.get("spend"))
    budget = counter.get("max_budget")
    max_budget = money.usd(budget) if budget is not None else None
    return BudgetState(spend=spend, max_budget=max_budget,
                       budget_exceeded=budget is not None and
                       int(counter.get("spend", 0)) >= int(budget))
