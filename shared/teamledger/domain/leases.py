"""Reservations as stored, and their moves: what any request (or the schedule) needs to
finish a move it finds recorded, and the schedule's charge of leases that ran out.

No pydantic here: the budget-reset function imports this module and pays no model imports for
it at cold start. The routes (domain/reservations.py) build on it.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from teamledger.domain.scopes import scopes_of
from teamledger.errors import Busy, ServiceError
from teamledger.store import stores
from teamledger.store.counters import Outcome, Result, Step, Writer
from teamledger.store.refs import Ref
from teamledger.timestamps import to_iso

Item = dict[str, Any]
P = ParamSpec("P")
T = TypeVar("T")
HELD, SETTLED, RELEASED, EXPIRED, REFUSED = "held", "settled", "released", "expired", "refused"
LOOKBACK = timedelta(minutes=2)
NO_MARK = "0000-01-01T00:00:00.000000Z"  # before every lease


def refs_of(reservation: Item) -> dict[str, Ref]:
    """The scopes the reservation holds (or held), by name."""
    key = {"token": reservation["token"], "key_id": reservation.get("key_id"),
           "team_id": reservation.get("team_id"),
           "user_id": reservation.get("user_id")}
    every = scopes_of(key)
    return {name: every[name] for name in reservation["scopes"] if name in every}


def reserve_step(reservation: Item, name: str, ref: Ref, amount: int) -> Step:
    """The reserve's step on scope `name`: token seq + 2i (its undo: seq + 2i + 1)."""
    seq = int(reservation["seq"]) + 2 * reservation["scopes"].index(name)
    return Step(ref, reservation["writer"], seq, reserved=amount, limit=True)


def new_move(reservation: Item, moves: Item) -> Item:
    """A move to record on the reservation before its steps: this thread's writer, fresh
    sequence numbers (one per scope), the amounts (`spend`, `reserved`) and its scopes."""
    scopes = moves.pop("scopes", reservation["scopes"])
    writer = Writer.current()
    return {"writer": writer.id, "seq": writer.take(len(reservation["scopes"])),
            "scopes": list(scopes)} | moves


def move_steps(reservation: Item, op: Item) -> list[tuple[str, Step]]:
    """A recorded move's steps, with their tokens, by scope."""
    refs = refs_of(reservation)
    steps = []
    for name in op["scopes"]:
        if name not in refs:
            continue
        index = reservation["scopes"].index(name)
        # An undo takes the token after its reserve step's (the reserve's writer left it free).
        seq = int(reservation["seq"]) + 2 * index + 1 if op.get("undo") else \
            int(op["seq"]) + index
        steps.append((name, Step(refs[name], op["writer"], seq, spend=int(op["spend"]),
                                 reserved=int(op["reserved"]))))
    return steps


def unsure(route: Callable[P, T]) -> Callable[P, T]:
    """A request that ends in an error it cannot vouch for (a 503, a lost answer: anything but
    a refusal) retires this thread's writer. A write that recorded tokens (a reservation, a
    note, a move) may have applied without an answer; this writer's later steps must not pass
    those tokens' marks, or the steps would be judged applied when they were not."""
    @wraps(route)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return route(*args, **kwargs)
        except ServiceError as error:
            if error.status >= 500:
                Writer.retire()
            raise
        except Exception:
            Writer.retire()
            raise
    return guarded


def take(reservation: Item, op: Item) -> dict[str, Item]:
    """Take (or finish) a recorded move's steps; returns each scope's counter after them. An
    error retires this thread's writer, so that its marks decide what applied."""
    states = {}
    try:
        for name, step in move_steps(reservation, op):
            if op.get("undo"):  # every scope: the taken ones undone, the others fenced off
                result: Result = stores().counters.undo(step.ref, step.writer, step.seq - 1,
                                                        int(reservation["amount"]))
            else:
                result = stores().counters.step(step)
            if result.outcome in (Outcome.APPLIED, Outcome.ALREADY):
                states[name] = result.counter
    except (Busy, OSError):
        Writer.retire()
        raise
    return states


# --- the schedule: leases that ran out --------------------------------------------------------

@unsure
def expire_leases(now: datetime, report: Any) -> None:
    """Charge every reservation whose lease ended unsettled (its amount, as spend), and finish
    any move whose steps were left half-taken. Leases are read from where the last run
    stopped (a mark in the table), so a missed run is caught up by the next."""
    until = to_iso(now)
    # From the last run's end (a missed run is caught up), and at least LOOKBACK back (a run
    # again over the same leases changes nothing: each move happens once).
    # The first run ever (no mark) reads every lease there is.
    after = min(stores().reservations.lease_mark() or NO_MARK, to_iso(now - LOOKBACK))
    for shard in range(stores().reservations.shards):
        start = None
        while True:
            items, start = stores().reservations.leases(shard, after, until, start)
            for item in items:
                report.leases += 1
                try:
                    if _expire(item):
                        report.charged += 1
                except Busy as error:
                    Writer.retire()  # its recorded move may have applied unanswered
                    report.errors.append(f"reservation {item['reservation_id']}: {error}")
            if not start:
                break
    if not report.errors:
        stores().reservations.set_lease_mark(until)


def _expire(reservation: Item) -> bool:
    """True if the lease was charged; moves already recorded are finished either way."""
    for op_name in ("settle", "release", "correct", "expire", "undo"):
        if op_name in reservation.get("ops", {}):
            take(reservation, reservation["ops"][op_name])
    if reservation["state"] != HELD:
        return False
    refs = refs_of(reservation)
    marks = stores().counters.marks(list(refs.values()))
    # Held: no undo can have run (a refusal leaves `refused`); either the reserve finished, and
    # every step applied, or its writer was retired, and the marks are exactly its steps.
    held = [name for name, ref in refs.items()
            if int(marks.get(ref, {}).get(reservation["writer"], 0)) >=
            reserve_step(reservation, name, ref, 0).seq]
    amount = int(reservation["amount"])
    steps = new_move(reservation, {"spend": amount, "reserved": -amount, "scopes": held})
    if not stores().reservations.move(reservation["reservation_id"], HELD, EXPIRED, "expire",
                                      steps):
        return False  # settled or released meanwhile
    take(reservation | {"ops": {"expire": steps}}, steps)
    return True
