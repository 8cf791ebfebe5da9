"""The gateway's per-call path: POST /spend/reserve before an LLM call, /spend/settle after it,
/spend/release when it failed; and the schedule's charge of leases that ran out.

A reserve checks the end user's key, its team and the model, then holds `amount` on every
budget scope of the key (key, user, team membership, team): first the reservation item with the
tokens of all its steps, then one conditional counter step per scope (CounterStore), budgeted
scopes first. A step that would pass a budget is refused by DynamoDB's condition; the steps
already taken are undone with their own tokens, and the answer is 429 naming the scope.

Moves out of `held` (settle, release, the lease's expiry) and a late settle after an expiry
record their steps on the reservation first, then take them; a move found recorded is finished
by whoever finds it (a retry, the schedule), since every step's token decides whether it applied.
Nothing here is a transaction: each write touches one item, so concurrent calls of one team queue
on its counter instead of cancelling each other.
"""

import hashlib
import math
import uuid
from datetime import timedelta
from typing import Any

from teamledger import money
from teamledger.domain import leases
from teamledger.domain.callers import Actor, key_refusal, team_refusal
from teamledger.domain.keys import token_for
from teamledger.domain.leases import HELD, REFUSED, RELEASED, SETTLED, expire_leases
from teamledger.domain.limits import MAX_AMOUNT
from teamledger.domain.policy import check_gateway
from teamledger.domain.scopes import ORDER as SCOPE_ORDER
from teamledger.domain.scopes import scopes_of, stable_id
from teamledger.errors import (
    BadRequest,
    Busy,
    Conflict,
    Forbidden,
    NotFound,
    OverBudget,
    ServiceError,
    Unauthorized,
)
from teamledger.http.models import (
    Reservation,
    ScopeState,
    SpendReleaseRequest,
    SpendReserveRequest,
    SpendSettleRequest,
)
from teamledger.store import stores
from teamledger.store.counters import Outcome, Writer
from teamledger.store.refs import Ref
from teamledger.store.teams import ACTIVE
from teamledger.timestamps import to_iso, utcnow

Item = dict[str, Any]
MAX_TTL = 3600
KEPT_AFTER_LEASE = timedelta(days=7)  # then TTL removes the reservation item
INVALID_USER_KEY = "invalid_user_key"


def _invalid_key(message: str) -> Unauthorized:
    return Unauthorized(message, type=INVALID_USER_KEY)


# --- reserve ---------------------------------------------------------------------------------

@leases.unsure
def reserve(actor: Actor, request: SpendReserveRequest) -> Reservation:
    check_gateway(actor.caller)
    if not (math.isfinite(request.amount) and 0 <= request.amount <= MAX_AMOUNT):
        raise BadRequest(f"amount must be a finite number from 0 to {MAX_AMOUNT:.0e} (USD)")
    if not 1 <= request.ttl_seconds <= MAX_TTL:
        raise BadRequest(f"ttl_seconds must be from 1 to {MAX_TTL}")
    value = request.token or request.key
    if not value:
        raise BadRequest("Pass the end user's key (key) or its token (token)")
    key, team = _end_user(value)
    _check_model(request.model, key, team)
    amount = money.units_up(request.amount)
    scopes = scopes_of(key)
    rid = _reservation_id(stable_id(key), request.request_id)
    now = utcnow()
    found = stores().reservations.get(rid) if request.request_id else None
    counters, mine = None, False
    if found is None:
        counters = stores().counters.read(list(scopes.values()))
        _precheck(scopes, counters, amount)
        writer = Writer.current()
        first = writer.take(2 * len(scopes))
        expires = to_iso(now + timedelta(seconds=request.ttl_seconds))
        item = {"reservation_id": rid, "state": HELD, "token": key["token"],
                "key_id": stable_id(key),
                "team_id": key.get("team_id"), "user_id": key.get("user_id"),
                # The order its steps take, kept: a retry takes them in the same order, so a
                # refusal at one scope comes after exactly the steps it must undo.
                "scopes": _ordered(list(scopes), counters, scopes), "amount": amount,
                "expires_at": expires,
                "created_at": to_iso(now), "writer": writer.id, "seq": first, "ops": {},
                "ttl": int((now + timedelta(seconds=request.ttl_seconds) +
                            KEPT_AFTER_LEASE).timestamp())}
        if request.request_id:
            item["request_id"] = request.request_id
        if stores().reservations.put_new(item):
            found, mine = item, True
        else:  # the same request_id, concurrently
            counters, found = None, stores().reservations.get(rid)
            if found is None:
                raise Busy("The reservation is being written; please retry")
    states = _hold(found, counters)
    if not mine and found["state"] == HELD:
        # A duplicate of a request still running may have been refused by it meanwhile.
        again = stores().reservations.get(rid)
        if again is not None and again["state"] == REFUSED:
            _hold(again)  # raises its refusal
    return _answer(found, key, team, states)


def _end_user(value: str) -> tuple[Item, Item | None]:
    token = token_for(value)
    key = stores().keys.get(token) if token else None
    if key is None:
        raise _invalid_key("Authentication Error, the end user's key is not valid.")
    refusal = key_refusal(key, to_iso(utcnow()))
    if refusal:
        raise _invalid_key(f"Authentication Error, the end user's key is {refusal}.")
    team = None
    if key.get("team_id"):
        team = stores().teams.gate(key["team_id"], ("models", "tpm_limit", "rpm_limit"))
        refusal = team_refusal(team, ACTIVE)
        if refusal:
            raise _invalid_key(f"Authentication Error, team {key['team_id']} "
                               f"{'does not exist' if refusal == 'gone' else 'is blocked'}.")
    return key, team


def _check_model(model: str | None, key: Item, team: Item | None) -> None:
    if model is None:
        return
    for owner, allowed in (("key", key.get("models")), ("team", (team or {}).get("models"))):
        if allowed and model not in allowed and "all-proxy-models" not in allowed:
            raise Forbidden(f"The {owner} may not call model {model}; allowed: "
                            f"{', '.join(allowed)}", type="model_not_allowed")


def _reservation_id(token: str, request_id: str | None) -> str:
    if request_id is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"reserve\n{token}\n{request_id}".encode()).hexdigest()[:32]


def _ordered(names: list[str], counters: dict[Ref, Item], scopes: dict[str, Ref]) -> list[str]:
    """Budgeted scopes first (a refusal then comes before any other step), in a fixed order."""
    return sorted(names, key=lambda n: (counters.get(scopes[n], {}).get("max_budget") is None,
                                        SCOPE_ORDER.index(n)))


def _precheck(scopes: dict[str, Ref], counters: dict[Ref, Item], amount: int) -> None:
    """Refuse before writing anything when a budget is already too small (as read)."""
    for name in SCOPE_ORDER:
        counter = counters.get(scopes[name]) if name in scopes else None
        if counter and counter.get("max_budget") is not None and \
                int(counter.get("used", 0)) + amount > int(counter["max_budget"]):
            raise _over_budget(name, counter)


def _over_budget(scope: str, counter: Item) -> OverBudget:
    remaining = money.usd(int(counter["max_budget"]) - int(counter.get("used", 0)))
    return OverBudget(f"Budget exceeded for {scope}: {remaining:.10g} USD remaining",
                      type="budget_exceeded", scope=scope, remaining=remaining)


def _hold(reservation: Item, counters: dict[Ref, Item] | None = None) -> dict[str, Item]:
    """The reserve's steps, or its answer if it has moved on. A refusal is recorded (with the
    steps that undo what was taken) before it is undone. Any error after the first step retires
    this thread's writer, so that the reservation's tokens decide what applied."""
    state = reservation["state"]
    refs = leases.refs_of(reservation)
    if state == REFUSED:
        leases.take(reservation, reservation["ops"]["undo"])
        refusal = reservation.get("refusal") or {}
        if refusal.get("status") == 401:
            raise _invalid_key(refusal.get("error", "Authentication Error"))
        raise OverBudget(f"Budget exceeded for {refusal.get('scope')}",
                         type="budget_exceeded", scope=refusal.get("scope"),
                         remaining=refusal.get("remaining"))
    if state != HELD:
        return _read(refs)
    amount = int(reservation["amount"])
    if counters is None:
        counters = stores().counters.read(list(refs.values()))
    taken: list[str] = []
    states: dict[str, Item] = {}
    try:
        for name in refs:  # in the reservation's order
            step = leases.reserve_step(reservation, name, refs[name], amount)
            budget = counters.get(refs[name], {}).get("max_budget")
            result = stores().counters.step(step, int(budget) if budget is not None else None)
            if result.outcome is Outcome.GONE and name not in ("key", "team"):
                continue  # a membership removed meanwhile: no budget of it left to hold
            if result.outcome in (Outcome.GONE, Outcome.REFUSED):
                error: ServiceError
                if result.outcome is Outcome.GONE:
                    error = _invalid_key(f"Authentication Error, the {name} no longer exists.")
                    _refuse(reservation, taken, {"status": 401, "error": error.message})
                else:
                    error = _over_budget(name, result.counter)
                    _refuse(reservation, taken, {"status": 429, "scope": name,
                                                 "remaining": error.fields["remaining"]})
                raise error
            taken.append(name)
            states[name] = result.counter
    except (Busy, OSError):
        Writer.retire()
        raise
    return states


def _refuse(reservation: Item, taken: list[str], refusal: Item) -> None:
    """Record the refusal and its undo, then undo: the steps taken are undone, and the others
    fenced off, so a duplicate of this request still sending them cannot hold anything."""
    undo = {"writer": reservation["writer"], "undo": True, "scopes": list(reservation["scopes"]),
            "spend": 0, "reserved": -int(reservation["amount"]), "taken": taken}
    if not stores().reservations.move(reservation["reservation_id"], HELD, REFUSED, "undo", undo,
                                      {"refusal": refusal}):
        raise Busy("The reservation is changing; please retry")
    leases.take(reservation, undo)


# --- settle, release, expire ----------------------------------------------------------------

@leases.unsure
def settle(actor: Actor, request: SpendSettleRequest) -> Reservation:
    check_gateway(actor.caller)
    if not (math.isfinite(request.spend) and 0 <= request.spend <= MAX_AMOUNT):
        raise BadRequest(f"spend must be a finite number from 0 to {MAX_AMOUNT:.0e} (USD)")
    spend = money.units(request.spend)
    for _ in range(3):
        reservation = _get(request.reservation_id)
        state = reservation["state"]
        if state == SETTLED:
            return _finish(reservation, "settle" if "settle" in reservation["ops"] else "correct")
        if state in (RELEASED, REFUSED):
            raise Conflict(f"This reservation was {state}; there is nothing to settle")
        amount = int(reservation["amount"])
        if state == HELD:
            op, moves = "settle", {"spend": spend, "reserved": -amount}
        else:  # expired: its amount was charged; the actual spend replaces it
            charged = reservation["ops"].get("expire", {}).get("scopes", [])
            op, moves = "correct", {"spend": spend - amount, "reserved": 0, "scopes": charged}
        steps = leases.new_move(reservation, moves)
        if stores().reservations.move(reservation["reservation_id"], state, SETTLED, op, steps,
                                      {"spend": spend}):
            return _finish(reservation | {"state": SETTLED,
                                          "ops": reservation["ops"] | {op: steps}}, op)
    raise Busy("The reservation is changing; please retry")


@leases.unsure
def release(actor: Actor, request: SpendReleaseRequest) -> Reservation:
    check_gateway(actor.caller)
    for _ in range(3):
        reservation = _get(request.reservation_id)
        if reservation["state"] != HELD:  # settled, released, expired or refused: no change
            if reservation["state"] == RELEASED:
                return _finish(reservation, "release")
            return _answer_of(reservation, _read(leases.refs_of(reservation)))
        steps = leases.new_move(reservation, {"spend": 0, "reserved": -int(reservation["amount"])})
        if stores().reservations.move(reservation["reservation_id"], HELD, RELEASED, "release",
                                      steps):
            return _finish(reservation | {"state": RELEASED,
                                          "ops": reservation["ops"] | {"release": steps}},
                           "release")
    raise Busy("The reservation is changing; please retry")


def _get(reservation_id: str) -> Item:
    found = stores().reservations.get(reservation_id)
    if found is None:
        raise NotFound("Reservation not found")
    return found


def _finish(reservation: Item, op_name: str) -> Reservation:
    """Take (or finish) the recorded move's steps, then answer."""
    states = leases.take(reservation, reservation["ops"][op_name])
    missing = {n: r for n, r in leases.refs_of(reservation).items() if n not in states}
    return _answer_of(reservation, states | (_read(missing) if missing else {}))


def _read(refs: dict[str, Ref]) -> dict[str, Item]:
    found = stores().counters.read(list(refs.values()))
    return {name: found[ref] for name, ref in refs.items() if ref in found}


# --- answers ---------------------------------------------------------------------------------

def _scope_state(counter: Item) -> ScopeState:
    budget = counter.get("max_budget")
    return ScopeState(spend=money.usd(counter.get("spend")),
                      reserved=money.usd(counter.get("reserved")),
                      max_budget=money.usd(budget) if budget is not None else None,
                      remaining=money.usd(int(budget) - int(counter.get("used", 0)))
                      if budget is not None else None)


def _answer(reservation: Item, key: Item, team: Item | None,
            states: dict[str, Item]) -> Reservation:
    missing = {n: r for n, r in leases.refs_of(reservation).items() if n not in states}
    if missing:
        states = states | _read(missing)
    return Reservation(
        reservation_id=reservation["reservation_id"], state=reservation["state"],
        expires_at=reservation["expires_at"], user_id=key.get("user_id"),
        team_id=key.get("team_id"), key_alias=key.get("key_alias"),
        models=key.get("models") or (team or {}).get("models") or [],
        tpm_limit=key.get("tpm_limit", (team or {}).get("tpm_limit")),
        rpm_limit=key.get("rpm_limit", (team or {}).get("rpm_limit")),
        scopes={n: _scope_state(c) for n, c in states.items()})


def _answer_of(reservation: Item, states: dict[str, Item]) -> Reservation:
    return Reservation(reservation_id=reservation["reservation_id"], state=reservation["state"],
                       expires_at=reservation["expires_at"], user_id=reservation.get("user_id"),
                       team_id=reservation.get("team_id"),
                       scopes={n: _scope_state(c) for n, c in states.items()})


__all__ = ["expire_leases", "release", "reserve", "settle"]
