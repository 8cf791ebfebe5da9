"""CounterStore: the counters of the per-call path, one small item per budget scope
(keys.counter), and the steps that move them exactly once.

A counter item holds, in money units (teamledger.money):
- `spend`, `reserved`, and `used` = spend + reserved: the one attribute a budget condition
  reads, since a condition cannot add two;
- `max_budget`, a copy of its entity's budget (written in the same transaction as the entity);
- `w`, the counter's marks: for each writer, the sequence number of its last step applied.

**Exactly once.** A step is one UpdateItem carrying a token (writer, seq) and the condition
`w.<writer> < seq`: it applies only if this writer has applied nothing as late on this counter.
A writer (one per thread: Lambda runs one request at a time per environment) takes strictly
increasing sequence numbers, so a step sent again, by botocore after a lost answer or by us, is
refused by its own mark, and the old image says so (`ALREADY`). The tokens of every step are in
the reservation item before the first step is sent, so anyone can send a step again: a request
that ends without knowing whether a step applied retires its writer (the thread takes a fresh
id), which freezes the marks that decide it. Marks older than MARK_LIFETIME (longer than any
lease plus a schedule period) are removed by later steps, which keeps a counter small.

No transaction ever touches a counter on the per-call path: concurrent single-item updates of
one item queue in DynamoDB, where concurrent transactions would cancel each other.
"""

import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from teamledger import money
from teamledger.errors import Busy, TransactionCancelled
from teamledger.store import keys, table
from teamledger.store.client import call, error_code, table_name
from teamledger.store.marshal import Item, from_item, to_item
from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef
from teamledger.store.table import Transaction

ACTIVE = "active"  # a team's status while it takes spend (teams.ACTIVE; that module imports us)

MARK_LIFETIME_US = 2 * 3600 * 10**6  # a mark outlives any lease (≤ 1 h) plus a schedule period
SENDS = 4  # a step sent again after a busy or lost answer (safe: its mark decides)
PRUNE_PER_STEP = 2


class Outcome(Enum):
    APPLIED = "applied"
    ALREADY = "already"  # applied before (a resend): the counter as it is now
    REFUSED = "refused"  # the budget would be passed
    GONE = "gone"  # no such counter (its entity was deleted)


@dataclass(frozen=True)
class Step:
    """One move of a counter, in units: `reserved`/`spend` are added (negative to drop);
    `used` moves by their sum. `limit`: refuse unless `used` stays within the budget."""

    ref: Ref
    writer: str
    seq: int
    spend: int = 0
    reserved: int = 0
    limit: bool = False
    # Only if this writer's mark is exactly `after` (the step it undoes applied), or is below
    # `before` (the step it fences off has not applied): else REFUSED, counter unchanged.
    after: int | None = None
    before: int | None = None


@dataclass
class Result:
    outcome: Outcome
    counter: Item = field(default_factory=dict)


class Writer:
    """This thread's writer id and its sequence numbers (microseconds, strictly increasing)."""

    _local = threading.local()

    @classmethod
    def current(cls) -> "Writer":
        writer: Writer | None = getattr(cls._local, "writer", None)
        if writer is None:
            writer = cls._local.writer = Writer()
        return writer

    @classmethod
    def retire(cls) -> None:  # noqa: D102
        """Forget this thread's writer: its marks now decide the steps it may have left."""
        cls._local.writer = None

    def __init__(self) -> None:
        self.id = secrets.token_hex(4)
        self.last = 0

    def take(self, count: int) -> int:
        """The first of `count` consecutive sequence numbers, all later than any before."""
        first = max(self.last + 1, time.time_ns() // 1000)
        self.last = first + count - 1
        return first


def new_counter(ref: Ref, max_budget: int | None) -> Item:
    ids: Item
    if isinstance(ref, TeamRef):
        ids = {"scope": "team", "team_id": ref.team_id}
    elif isinstance(ref, MemberRef):
        ids = {"scope": "team_membership", "team_id": ref.team_id, "user_id": ref.user_id}
    elif isinstance(ref, UserRef):
        ids = {"scope": "user", "user_id": ref.user_id}
    else:
        ids = {"scope": "key", "token": ref.token}
    item = keys.counter(ref) | ids | {"entity": "counter", "spend": 0, "reserved": 0, "used": 0,
                                      "w": {}}
    if max_budget is not None:
        item["max_budget"] = max_budget
    return item


class CounterStore:
    # Marks seen old on a counter, to remove with this process's next step on it.
    _stale: dict[tuple[str, str], dict[str, int]] = {}

    # --- reads ---------------------------------------------------------------------------

    def read(self, refs: list[Ref]) -> dict[Ref, Item]:
        """The counters of these entities (one BatchGetItem per 100, strongly consistent)."""
        found: dict[Ref, Item] = {}
        for item in table.batch_get([keys.counter(r) for r in dict.fromkeys(refs)]):
            ref = keys.counter_ref(item)
            if ref is not None:
                found[ref] = _public(item)
        return found

    def read_with_spend(self, entity_keys: list[dict[str, str]],
                        along: list[dict[str, str]] | None = None) -> list[Item]:
        """Entity items and their spend, in one BatchGetItem per 50 (items and counters).
        `along`: more keys read in the same request, whose items are appended as read."""
        wanted = list(along or [])
        for key in entity_keys:  # each item beside its counter: 50 of them per request
            wanted.append(key)
            ref = _ref_of_key(key)
            if ref is not None:
                wanted.append(keys.counter(ref))
        found = table.batch_get(wanted)
        spend = {ref: item.get("spend", 0) for item in found
                 if (ref := keys.counter_ref(item)) is not None}
        # A regenerated key counts on its stable id's counter, not its token's: one more read,
        # for such keys only.
        moved = {ref for item in found if (ref := keys.spend_ref(item)) is not None
                 and ref != keys.ref_of(item) and ref not in spend}
        if moved:
            spend |= {ref: item.get("spend", 0) for item in self._counters(moved)
                      if (ref := keys.counter_ref(item)) is not None}
        entities, others = [], []
        for item in found:
            ref = keys.ref_of(item)
            if ref is not None:
                item["spend"] = money.usd(spend.get(keys.spend_ref(item) or ref, 0))
                entities.append(item)
            elif keys.counter_ref(item) is None:
                others.append(item)
        return entities + others

    @staticmethod
    def _counters(refs: set[Ref]) -> list[Item]:
        return table.batch_get([keys.counter(r) for r in refs])

    def fill_along(self, items: list[Item], along: list[dict[str, str]]) -> list[Item]:
        """`fill`, and the items of `along` read in the same BatchGetItem (returned)."""
        refs = {id(i): ref for i in items if (ref := keys.spend_ref(i)) is not None}
        found = table.batch_get(list(along) + [keys.counter(r) for r in refs.values()])
        spend = {ref: c.get("spend", 0) for c in found
                 if (ref := keys.counter_ref(c)) is not None}
        for item in items:
            ref = refs.get(id(item))
            if ref is not None:
                item["spend"] = money.usd(spend.get(ref, 0))
        return [i for i in found if keys.counter_ref(i) is None]

    def fill(self, items: list[Item]) -> list[Item]:
        """Each entity's `spend` (USD) from its counter, in place (one BatchGetItem per 100;
        no counter yet: 0). Returns the items."""
        refs = {id(i): ref for i in items if (ref := keys.spend_ref(i)) is not None}
        found = self.read(list(refs.values())) if refs else {}
        for item in items:
            ref = refs.get(id(item))
            if ref is not None:
                item["spend"] = money.usd(found.get(ref, {}).get("spend"))
        return items

    def fill_members(self, team_id: str, members: list[Item]) -> list[Item]:
        """`fill` for a team's members, from one Query of the partition their counters share
        (billed by their total size: a BatchGetItem bills each item a whole read unit), from
        the first member's to the last's by user id (a page of members: its counters only)."""
        if not members:
            return members
        ids = sorted(m["user_id"] for m in members)
        spend = {item.get("user_id"): item.get("spend", 0) for item in table.Query(
            f"{keys.MEMBER_COUNTERS}{team_id}", consistent=True, sk_between=(
                f"{keys.MEMBER_COUNTER_PREFIX}{ids[0]}",
                f"{keys.MEMBER_COUNTER_PREFIX}{ids[-1]}")).all()}
        for member in members:
            member["spend"] = money.usd(spend.get(member["user_id"], 0))
        return members

    def marks(self, refs: list[Ref]) -> dict[Ref, dict[str, int]]:
        """Each counter's marks: writer -> last sequence number applied."""
        items = table.batch_get([keys.counter(r) for r in dict.fromkeys(refs)])
        return {ref: {k: int(v) for k, v in (i.get("w") or {}).items()}
                for i in items if (ref := keys.counter_ref(i)) is not None}

    # --- the per-call steps ----------------------------------------------------------------

    def step(self, step: Step, max_budget: int | None = None) -> Result:
        """Apply `step` once. With `limit`, the budget is the counter's `max_budget`: the
        value read (`max_budget`) is part of the condition, and a budget changed meanwhile
        is read from the refusal and tried again. A busy or unanswered send is sent again:
        its mark makes that safe."""
        created = False
        for send in range(SENDS + 1):
            try:
                applied, old = self._send(self._request(step, max_budget))
            except Busy:
                if send >= SENDS - 1:
                    raise
                _pause(send)
                continue
            if applied is not None:
                self._note_stale(step.ref, applied)
                return Result(Outcome.APPLIED, _public(applied))
            if old is None:  # an admin transaction on the counter was in flight
                _pause(send)
                continue
            if not old:
                if step.after is not None or step.before is not None:
                    return Result(Outcome.GONE)  # nothing held here, nothing to fence
                if created or not self._create(step.ref):
                    return Result(Outcome.GONE)
                created = True
                continue
            judged = self._judge(step, old)
            if judged is not None:
                return judged
            budget = old.get("max_budget")
            max_budget = int(budget) if budget is not None else None  # send with what is there
        raise Busy("The counter is busy; please retry")

    @staticmethod
    def _send(request: dict[str, Any]) -> tuple[Item | None, Item | None]:
        """(the counter after the step, None) if it applied; (None, the counter as it was:
        {} if none) if its condition failed; (None, None) on a transaction conflict."""
        try:
            answer = call("update_item", request)
        except ClientError as error:
            code = error_code(error)
            if code == "TransactionConflictException":
                return None, None
            if code != "ConditionalCheckFailedException":
                raise
            image: Item = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
            return None, from_item(image)
        return from_item(answer.get("Attributes") or {}), None

    def _judge(self, step: Step, old: Item) -> Result | None:
        """Why a step's condition failed: applied before, or over budget; None: neither (a
        budget changed since it was read, or a prune raced), so send it again."""
        if int((old.get("w") or {}).get(step.writer, 0)) >= step.seq:
            return Result(Outcome.ALREADY, _public(old))
        if step.after is not None or step.before is not None:
            return Result(Outcome.REFUSED, _public(old))  # the mark is not as required
        self._stale.pop(_cache_key(step.ref), None)  # a prune that raced: drop it
        budget = old.get("max_budget")
        if step.limit and budget is not None and \
                int(old.get("used", 0)) + step.reserved + step.spend > int(budget):
            return Result(Outcome.REFUSED, _public(old))
        return None

    def undo(self, ref: Ref, writer: str, reserve_seq: int, amount: int) -> Result:
        """Undo a reserve step (token `reserve_seq`) whether or not it applied, exactly once,
        with the token after it: if it applied, its hold is dropped; if not, a step of nothing
        takes the token, so the reserve step, sent late (a duplicate request), finds its mark
        passed and never applies."""
        for _ in range(SENDS):
            for step in (Step(ref, writer, reserve_seq + 1, reserved=-amount, after=reserve_seq),
                         Step(ref, writer, reserve_seq + 1, before=reserve_seq)):
                result = self.step(step)
                if result.outcome is not Outcome.REFUSED:
                    return result
        raise Busy("The counter is busy; please retry")

    def _create(self, ref: Ref) -> bool:
        """A counter made on first use, with its entity's budget, in a transaction that checks
        the entity is still there (a team: active), so no counter outlives its entity; False:
        no such entity."""
        for _ in range(3):
            entity = table.get(keys.of_ref(ref), attributes=("max_budget", "status", "entity"))
            if entity is None or (isinstance(ref, TeamRef) and entity.get("status") != ACTIVE):
                return False
            budget = entity.get("max_budget")
            tx = Transaction()
            if isinstance(ref, TeamRef):
                tx.check(keys.of_ref(ref), "#status = :active", names={"#status": "status"},
                         values={":active": ACTIVE})
            else:
                tx.check(keys.of_ref(ref), "attribute_exists(PK)")
            tx.put(new_counter(ref, money.units(budget) if budget is not None else None),
                   condition="attribute_not_exists(PK)")
            try:
                tx.commit()
                return True
            except TransactionCancelled as cancelled:
                if cancelled.failed_at(1):
                    return True  # made meanwhile by another call
                if cancelled.failed_at(0):
                    return False  # deleted meanwhile
        return True  # conflicts all the way: the next send finds out

    def _request(self, step: Step, max_budget: int | None) -> dict[str, Any]:
        names = {"#w": "w", "#me": step.writer, "#s": "spend", "#r": "reserved", "#u": "used"}
        values: Item = {":seq": step.seq, ":s": step.spend, ":r": step.reserved,
                        ":u": step.spend + step.reserved}
        conditions = ["attribute_exists(PK)",
                      "(attribute_not_exists(#w.#me) OR #w.#me < :seq)"]
        if step.after is not None:
            conditions.append("#w.#me = :after")
            values[":after"] = step.after
        if step.before is not None:
            conditions.append("(attribute_not_exists(#w.#me) OR #w.#me < :before)")
            values[":before"] = step.before
        if step.limit:
            names["#max"] = "max_budget"
            if max_budget is None:
                conditions.append("attribute_not_exists(#max)")
            else:
                conditions.append("#max = :max AND #u <= :room")
                values |= {":max": max_budget, ":room": max_budget - values[":u"]}
        removes = []
        stale = self._stale.get(_cache_key(step.ref), {})
        for n, (writer, seq) in enumerate(list(stale.items())[:PRUNE_PER_STEP]):
            if writer == step.writer:
                continue
            names[f"#p{n}"] = writer
            values[f":p{n}"] = seq
            removes.append(f"#w.#p{n}")
            conditions.append(f"#w.#p{n} = :p{n}")
        expression = "SET #w.#me = :seq ADD #s :s, #r :r, #u :u"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        return {"TableName": table_name(), "Key": to_item(keys.counter(step.ref)),
                "UpdateExpression": expression, "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": to_item(values),
                "ReturnValues": "ALL_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}

    def _note_stale(self, ref: Ref, counter: Item) -> None:
        horizon = time.time_ns() // 1000 - MARK_LIFETIME_US
        stale = {w: int(s) for w, s in (counter.get("w") or {}).items() if int(s) < horizon}
        if stale:
            self._stale[_cache_key(ref)] = stale
        else:
            self._stale.pop(_cache_key(ref), None)


# --- admin writes, inside the entity's transaction (the entity's store adds them) -----------
# A counter is made on first use (CounterStore._create) or by the first budget set here, so
# creating an entity writes no counter.

KEEP = object()  # rewrite(): leave the budget as it is


def rewrite(tx: Transaction, ref: Ref, *, budget: Any = KEEP, restart: bool = False) -> float:
    """What an admin change does to a counter, as one write of its transaction (DynamoDB
    refuses two writes of one item in a transaction):
    - `budget`: the entity's new budget (USD, None: none), copied (an upsert: the counter is
      made here if it is not yet);
    - `restart`: a new budget period: spend back to 0, on condition that it is still what is
      read here; what is reserved stays reserved.
    Returns the spend that ended (USD; 0 without `restart`)."""
    ended = 0
    if restart:
        counter = table.get(keys.counter(ref), attributes=("spend",))
        ended = int(counter.get("spend", 0)) if counter else 0
    names = {"#s": "spend", "#u": "used"}
    values: Item = {":zero": 0}
    sets: list[str] = []
    adds = ["#u :minus"] if ended else ["#u :zero"]
    removes: list[str] = []
    condition = None
    if ended:
        sets.append("#s = :zero")
        values |= {":minus": -ended, ":spend": ended}
        condition = "#s = :spend"
    if budget is not KEEP:
        item = new_counter(ref, None)
        names |= {"#w": "w", "#r": "reserved", "#max": "max_budget"}
        values[":empty"] = {}
        sets.append("#w = if_not_exists(#w, :empty)")
        for n, field_name in enumerate(("entity", "scope", "team_id", "user_id", "token")):
            if field_name in item:
                names[f"#i{n}"] = field_name
                values[f":i{n}"] = item[field_name]
                sets.append(f"#i{n} = :i{n}")
        if budget is None:
            removes.append("#max")
        else:
            sets.append("#max = :max")
            values[":max"] = money.units(budget)
        adds.append("#r :zero")
        if not ended:
            adds.append("#s :zero")
    elif not ended:
        return 0.0  # nothing to write
    expression = " ".join(part for part in (
        "SET " + ", ".join(sets) if sets else "", "ADD " + ", ".join(adds),
        "REMOVE " + ", ".join(removes) if removes else "") if part)
    tx.update_raw(keys.counter(ref), expression, condition=condition, names=names, values=values)
    return money.usd(ended)


def set_budget(tx: Transaction, ref: Ref, max_budget: float | None) -> None:
    """The entity's new budget, copied onto its counter (made here if it is not yet)."""
    rewrite(tx, ref, budget=max_budget)


def restart(tx: Transaction, ref: Ref) -> float:
    """Spend back to 0 (a budget period ends); returns the spend that ended (USD)."""
    return rewrite(tx, ref, restart=True)


def delete(tx: Transaction, ref: Ref) -> None:
    tx.delete(keys.counter(ref))


def _ref_of_key(key: dict[str, str]) -> Ref | None:
    pk, sk = key["PK"], key["SK"]
    kind, _, rest = pk.partition("#")
    if sk == keys.TEAM_SK:
        return TeamRef(rest)
    if sk == keys.USER_SK:
        return UserRef(rest)
    if sk == keys.KEY_SK:
        return KeyRef(rest)
    if keys.is_member_sk(sk) and kind == "TEAM":
        return MemberRef(rest, sk[len(keys.MEMBER_PREFIX):])
    return None


def _public(item: Item) -> Item:
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "w")}


def _cache_key(ref: Ref) -> tuple[str, str]:
    key = keys.counter(ref)
    return key["PK"], key["SK"]


def _pause(send: int) -> None:
    time.sleep(random.uniform(0, min(0.2, 0.01 * 2 ** send)))


__all__ = ["KEEP", "CounterStore", "KeyRef", "Outcome", "Result", "Step", "Writer", "delete",
           "new_counter", "restart", "rewrite", "set_budget"]
