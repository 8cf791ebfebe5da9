"""Fault injection: every DynamoDB call of every mutating route fails in turn, and afterwards
the table still keeps its promises (the project's standards: a failed transaction leaves no trace,
every committed change has exactly one audit record; on the per-call path, every amount is
counted exactly once), the answer is a JSON error the client may retry (never a 500), and the
same request sent again without faults does what it asked.

The faults are raised by the layer's own botocore client (`client()`, one per execution
environment): its `_make_api_call` counts the calls of one request and fails the k-th. That is
above botocore's retry loop, so the layer sees what it would see once botocore's own retries
are used up:
- throttled: a ClientError ProvisionedThroughputExceededException (odd k) or
  ThrottlingException (even k);
- conflict: TransactionCanceledException with a TransactionConflict reason (TransactWriteItems);
- cancelled_throttled: TransactionCanceledException with a ThrottlingError reason, as DynamoDB
  throttles a transaction (TransactWriteItems);
- in_progress: TransactionInProgressException (TransactWriteItems): what botocore's retry with
  the same ClientRequestToken gets while the first attempt is still being applied;
- reset: ConnectionClosedError (odd k) or ReadTimeoutError (even k);
- lost: the write reaches DynamoDB and is applied, its answer never comes back (a
  ReadTimeoutError after the real call). With the ClientRequestToken, botocore's own retries
  of a transaction cannot apply it twice; this is the case where all of them lost the answer;
- resent: the write is applied, its answer is lost, and botocore sends it again with the same
  parameters: the layer gets the second answer (a failed condition, where the write had one).
  Not for TransactWriteItems: there the ClientRequestToken makes DynamoDB answer the resend as
  it answered the first (moto does not keep tokens), which is no fault at all.

Counter steps (CounterStore.step: an UpdateItem with a token and a condition on the counter's
marks) are sent again by the layer itself after a busy or lost answer, which the marks make
safe: a fault of one such call must end in a 200. Every step that applies is written down (the
ledger, from the requests that reached the table), and the counters are read against it:
each counter holds what its steps add up to, each reservation moved what its state says on
each scope it holds, and nothing else moved money (see `_money`).

A reservation that a failed first attempt left held (the retry of a reserve without request_id
is a reservation of its own) is charged by the schedule: such a case runs
leases.expire_leases after every lease, and then nothing may be left held.

Which call is the k-th comes from PLANS, each route's calls without faults;
`test_each_plan_is_what_the_route_calls` fails when a route's calls change, and prints the
new plan. Each case starts from an empty table of this module's own, so the invariant checks
look at every item; a scenario's setup runs once, and its later cases start from a copy of
the table it left (`_set_up`).
"""

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from teamledger import money
from teamledger.config import settings
from teamledger.domain import audit, leases
from teamledger.domain.budget_reset import Report
from teamledger.domain.scopes import scopes_of
from teamledger.store import alias_words
from teamledger.store import keys as table_keys
from teamledger.store import teams as team_store
from teamledger.store.client import client
from teamledger.store.marshal import from_item
from teamledger.store.reservations import LEASE_MARK as LEASE_MARK_KEY
from teamledger.timestamps import from_iso

from tests.support.client import Api, Reply
from tests.support.template import create_table

Items = dict[tuple[str, str], dict]
Key = tuple[str, str]


# --- the requests --------------------------------------------------------------------------


class Money(NamedTuple):
    """The counters read against the ledger (`_money`)."""

    counters: dict[Key, dict]
    reservations: dict[str, dict]
    scopes: dict[str, Key]  # alice's key in t1: scope name -> its counter's key
    tracked: dict[Key, int]  # spend of the steps no reservation names (/spend/track's)
    problems: list[str]

    def counter(self, scope: str) -> dict:
        return self.counters.get(self.scopes[scope], {})

    def tracked_on(self, scope: str) -> int:
        return self.tracked.get(self.scopes[scope], 0)


# A scenario's own look at the money after each phase: the Money after the faulty attempt,
# after the retry, and after the schedule (when it ran), and the answers so far.
MoneyCheck = Callable[[list[Money], list[Reply]], None]
SCOPES = ("key", "user", "team_membership", "team")


def _no_money(history: list[Money], replies: list[Reply]) -> None:
    assert not any(history[-1].tracked.values()) and not history[-1].reservations


@dataclass(frozen=True)
class Scenario:
    path: str
    body: dict
    setup: Callable[[Api], dict] = lambda api: {}
    # Body fields that come from the setup (a key made there, say): field -> context -> value.
    from_setup: Callable[[dict], dict] = lambda context: {}
    # The caller's key from the setup's context (None: the master key).
    caller: str | None = None
    # The status of the same request again, given whether the first attempt committed and the
    # table after it.
    again: Callable[[bool, Items], int] = lambda committed, items: 200
    # What must hold once the request has succeeded (False, or a failed assert, if not);
    # `twice`: the first attempt had committed too.
    done: Callable[[Items, bool], bool | None] = lambda items, twice: None
    # What the counters must say after each phase (by default: no money moved).
    money: MoneyCheck = _no_money
    method: str = "POST"
    path_params: dict | None = None  # a route with its object in the path


def _base(api) -> dict:
    """alice (with her own key) and team t1 (models ["a"]): default_user_id and alice admins."""
    alice = api.new_user(user_id="alice", user_email="alice@example.com")
    api.new_team(team_id="t1", team_alias="Core", models=["a"],
                 members_with_roles=[{"user_id": "alice", "role": "admin"}])
    return {"alice_key": alice["key"]}


def _bob(api) -> None:
    api.new_user(user_id="bob")


def _bob_in_t1(api) -> None:
    api.new_user(user_id="bob", teams=["t1"])


def _t1_blocked(api) -> None:
    api.ok(api.post("/team/block", {"team_id": "t1"}))


def _bobs_key_in_t1(api) -> dict:
    return {"bob_token": api.new_key(user_id="bob", team_id="t1")["token"]}


def _alices_key_in_t1(api) -> dict:
    return {"spend_token": api.new_key(user_id="alice", team_id="t1")["token"]}


def _with(*steps: Callable) -> Callable:
    def setup(api) -> dict:
        context = _base(api)
        for step in steps:
            context |= step(api) or {}
        return context
    return setup


def _items(items: Items, entity: str, **fields) -> list[dict]:
    return [i for i in items.values() if i.get("entity") == entity
            and all(i.get(k) == v for k, v in fields.items())]


def _team(items: Items, team_id: str = "t1") -> dict:
    return items[(f"TEAM#{team_id}", "TEAM")]


def _member_ids(items: Items, team_id: str = "t1") -> set[str]:
    return {m["user_id"] for m in _items(items, "member", team_id=team_id)}


def _users_by_email(items: Items, email: str) -> list[str]:
    return [u["user_id"] for u in _items(items, "user", user_email=email)]


def _records(items: Items, object_id: str) -> list[dict]:
    return _items(items, "audit", object_id=object_id)


def _new_team_done(items: Items, twice: bool) -> None:
    [bob] = _users_by_email(items, "bob@example.com")
    assert _team(items, "t2")["status"] == team_store.ACTIVE
    assert _member_ids(items, "t2") == {"default_user_id", "alice", bob}
    assert len(_records(items, "t2")) == 1


def _member_add_done(items: Items, twice: bool) -> None:
    [carol] = _users_by_email(items, "carol@example.com")
    assert _member_ids(items) == {"default_user_id", "alice", "bob", carol}


def _bulk_done(items: Items, twice: bool) -> None:
    [dave] = _users_by_email(items, "dave@example.com")
    assert _member_ids(items) == {"default_user_id", "alice", "bob", dave}


def _member_update_done(items: Items, twice: bool) -> None:
    alice = items[("TEAM#t1", "MEMBER#alice")]
    assert (alice["role"], alice["max_budget"], alice["budget_duration"]) == ("user", 7, "1w")


def _team_deleted(items: Items, twice: bool) -> None:
    assert not [k for k in items if k[0] == "TEAM#t1"]
    assert not _items(items, "key", team_id="t1")


def _user_new_done(items: Items, twice: bool) -> None:
    assert _items(items, "user", user_id="erin") and "erin" in _member_ids(items)
    assert len(_items(items, "key", user_id="erin")) == 1


def _key_generated(items: Items, twice: bool) -> None:
    # A first attempt that committed but answered 503 left a key nobody holds (no
    # Idempotency-Key yet): then there are two.
    assert len(_items(items, "key", user_id="frank", team_id="t1")) == 1 + twice
    assert not _items(items, "user", user_id="frank")  # a key makes no user (as LiteLLM)


def _user_updated(items: Items, twice: bool) -> None:
    (user,) = _items(items, "user", user_id="alice")
    assert (user["user_email"], user["max_budget"], user["budget_duration"]) == (
        "alice2@example.com", 4.0, "1w")
    assert [i["user_email"] for i in _items(items, "email", user_id="alice")] == [
        "alice2@example.com"]


def _user_deleted(items: Items, twice: bool) -> None:
    assert not _items(items, "user", user_id="alice")
    assert not _items(items, "key", user_id="alice")
    assert "alice" not in _member_ids(items)
    assert not _items(items, "email", user_id="alice")


def _key_updated(items: Items, twice: bool) -> None:
    (key,) = _items(items, "key", user_id="bob", team_id="t1")
    assert (key["key_alias"], key["max_budget"], key["budget_duration"]) == ("ci2", 3.0, "1w")


def _key_regenerated(items: Items, twice: bool) -> None:
    # One key, under a new token, with its first token as its stable id; the old tokens point
    # to the next for their grace period
    (key,) = _items(items, "key", user_id="bob", team_id="t1")
    assert key["key_alias"] == "ci3" and key["key_id"] != key["token"]
    assert len(_items(items, "key_pointer")) == 1 + twice


# --- the per-call path: /spend/track, /spend/reserve, /spend/settle, /spend/release ----------

SPEND = 0.25  # what the spend_track scenarios report, to its key, user, team and membership
AMOUNT = 0.5  # what a reservation holds
SETTLED = 0.2  # what the settle scenario reports as spent
LEASE = 60  # seconds


def _budgets(api) -> None:
    """t1 gets a team budget, alice a budget in t1 (both counters then exist; her key's and
    her user's are made on first use)."""
    api.ok(api.post("/team/update", {"team_id": "t1", "max_budget": 10.0}))
    api.ok(api.post("/team/member_update", {"team_id": "t1", "user_id": "alice",
                                           "max_budget_in_team": 5.0}))


def _alices_reservation(api) -> dict:
    """alice's key in t1, and a reservation of AMOUNT on it."""
    context = _alices_key_in_t1(api)
    reply = api.ok(api.post("/spend/reserve", {"token": context["spend_token"],
                                               "amount": AMOUNT, "ttl_seconds": 3600}))
    return context | {"reservation_id": reply["reservation_id"]}


def _tracked(once: bool) -> MoneyCheck:
    """/spend/track: the first attempt lands on each scope at most once (on all of them if it
    answered 200); the retry lands on each scope exactly once more, unless it carries the same
    request_id: then each scope holds the amount once, faults or not."""
    unit = money.units(SPEND)

    def check(history: list[Money], replies: list[Reply]) -> None:
        first, now = history[0], history[-1]
        assert not now.reservations
        counted = {s: first.tracked_on(s) for s in SCOPES}
        assert set(counted.values()) <= {0, unit}, counted
        if replies[0].status == 200:
            assert set(counted.values()) == {unit}, counted
        if len(replies) > 1:
            final = {s: now.tracked_on(s) for s in SCOPES}
            expected = {s: unit if once else counted[s] + unit for s in SCOPES}
            assert final == expected, f"spend {final}, expected {expected}"
    return check


def _held(history: list[Money], replies: list[Reply]) -> None:
    """/spend/reserve: the retry's reservation is held (`_money` checks that it holds AMOUNT on
    every scope, and that the first attempt's, if any, holds what its steps took)."""
    now = history[-1]
    assert not any(now.tracked.values())
    if len(replies) > 1 and len(history) == 2:
        rid = replies[1].body["reservation_id"]
        assert now.reservations[rid]["state"] == leases.HELD
        for scope in SCOPES:
            assert now.counter(scope)["reserved"] >= money.units_up(AMOUNT), scope


def _held_once(history: list[Money], replies: list[Reply]) -> None:
    """With a request_id there is only ever one reservation, and the retry holds it whole."""
    _held(history, replies)
    assert len(history[-1].reservations) <= 1
    if len(replies) > 1 and len(history) == 2:
        for scope in SCOPES:
            counter = history[-1].counter(scope)
            assert (counter["spend"], counter["reserved"]) == (0, money.units_up(AMOUNT)), scope


def _moved_out(state: str, spend: float) -> MoneyCheck:
    """/spend/settle, /spend/release of the setup's reservation: it moves once out of held, and
    every scope ends with `spend` and nothing reserved."""
    def check(history: list[Money], replies: list[Reply]) -> None:
        now = history[-1]
        assert not any(now.tracked.values())
        [reservation] = now.reservations.values()
        assert reservation["state"] in (leases.HELD, state), reservation["state"]
        if replies[-1].status == 200:
            assert reservation["state"] == state
        if len(replies) > 1:
            for scope in SCOPES:
                counter = now.counter(scope)
                assert (counter["spend"], counter["reserved"]) == (money.units(spend), 0), scope
    return check


def _bad_request_if_committed(committed: bool, items: Items) -> int:
    return 400 if committed else 200


def _token(context: dict) -> dict:
    return {"token": context["spend_token"]}


def _reservation(context: dict) -> dict:
    return {"reservation_id": context["reservation_id"]}


SCENARIOS: dict[str, Scenario] = {
    "team_new": Scenario(
        "/team/new", {"team_id": "t2", "team_alias": "New", "max_budget": 10.0,
                      "budget_duration": "30d", "models": ["gpt-4o"],
                      "members_with_roles": [{"user_id": "alice", "role": "admin"},
                                             {"user_email": "bob@example.com"}]},
        _with(), again=_bad_request_if_committed, done=_new_team_done),
    "team_update": Scenario(
        "/team/update", {"team_id": "t1", "team_alias": "Renamed", "max_budget": 50.0,
                         "budget_duration": "7d", "metadata": {"tier": "gold"}},
        _with(), done=lambda items, twice: _team(items)["team_alias"] == "Renamed"),
    "team_block": Scenario(
        "/team/block", {"team_id": "t1"}, _with(),
        done=lambda items, twice: _team(items)["blocked"] is True),
    "team_unblock": Scenario(
        "/team/unblock", {"team_id": "t1"},
        _with(_t1_blocked),
        done=lambda items, twice: _team(items)["blocked"] is False),
    "team_delete": Scenario(
        "/team/delete", {"team_ids": ["t1"]},
        _with(_bob_in_t1, _bobs_key_in_t1),
        again=lambda committed, items: 200 if ("TEAM#t1", "TEAM") in items else 404,
        done=_team_deleted),
    "team_member_add": Scenario(
        "/team/member_add", {"team_id": "t1", "max_budget_in_team": 5.0, "budget_duration": "1d",
                             "member": [{"user_id": "bob"},
                                        {"user_email": "carol@example.com", "role": "admin"}]},
        _with(_bob), again=_bad_request_if_committed, done=_member_add_done),
    "team_bulk_member_add": Scenario(
        "/team/bulk_member_add", {"team_id": "t1", "max_budget_in_team": 3.0, "members": [
            {"user_id": "bob"}, {"user_email": "dave@example.com"}, {"user_id": "alice"}]},
        _with(_bob), done=_bulk_done),
    # alice's key in t1 goes with her, in the same transaction.
    "team_member_delete": Scenario(
        "/team/member_delete", {"team_id": "t1", "user_id": "alice"},
        _with(_alices_key_in_t1), again=_bad_request_if_committed,
        done=lambda items, twice: "alice" not in _member_ids(items)
        and not _items(items, "key", user_id="alice", team_id="t1")),
    "team_member_update": Scenario(
        "/team/member_update", {"team_id": "t1", "user_id": "alice", "role": "user",
                                "max_budget_in_team": 7.0, "budget_duration": "1w"},
        _with(), done=_member_update_done),
    "team_model_add": Scenario(
        "/team/model/add", {"team_id": "t1", "models": ["b", "c"]}, _with(),
        done=lambda items, twice: _team(items)["models"] == ["a", "b", "c"]),
    "team_model_delete": Scenario(
        "/team/model/delete", {"team_id": "t1", "models": ["a"]}, _with(),
        done=lambda items, twice: _team(items)["models"] == []),
    "team_permissions_update": Scenario(
        "/team/permissions_update",
        {"team_id": "t1", "team_member_permissions": ["/key/info", "/key/delete"]}, _with(),
        done=lambda items, twice: _team(items)["team_member_permissions"] == [
            "/key/info", "/key/delete"]),
    "team_patch": Scenario(
        "/team/{team_id}", {"team_alias": "Patched", "max_budget": 20.0, "budget_duration": "1d"},
        _with(), method="PATCH", path_params={"team_id": "t1"},
        done=lambda items, twice: _team(items)["team_alias"] == "Patched"),
    # A new email moves the email's item; a new period restarts the user's counter (a read).
    "user_update": Scenario(
        "/user/update", {"user_id": "alice", "user_email": "alice2@example.com",
                         "max_budget": 4.0, "budget_duration": "1w", "metadata": {"x": 1}},
        _with(), done=_user_updated),
    # alice's keys and membership go with her, in one transaction.
    "user_delete": Scenario(
        "/user/delete", {"user_ids": ["alice"]}, _with(_alices_key_in_t1),
        again=lambda committed, items: 404 if committed else 200, done=_user_deleted),
    "user_new": Scenario(
        "/user/new", {"user_id": "erin", "user_email": "erin@example.com", "teams": ["t1"],
                      "max_budget": 2.0, "budget_duration": "1mo"},
        _with(), again=_bad_request_if_committed, done=_user_new_done),
    "key_generate": Scenario(
        "/key/generate", {"user_id": "frank", "team_id": "t1", "key_alias": "ci",
                          "max_budget": 1.0, "budget_duration": "1d", "duration": "30d"},
        _with(), done=_key_generated),
    # By a team admin (alice's own key): auth and her team roles are calls of their own.
    "key_delete": Scenario(
        "/key/delete", {}, _with(_bobs_key_in_t1),
        from_setup=lambda context: {"keys": [context["bob_token"]]}, caller="alice_key",
        again=lambda committed, items: 403 if committed else 200,  # unknown to a non-admin
        done=lambda items, twice: not _items(items, "key", user_id="bob")),
    # A new period restarts the key's counter (a read of it) in the key's transaction.
    "key_update": Scenario(
        "/key/update", {"key_alias": "ci2", "max_budget": 3.0, "budget_duration": "1w"},
        _with(_bob_in_t1, _bobs_key_in_t1),
        from_setup=lambda context: {"key": context["bob_token"]}, done=_key_updated),
    # Sent again after a commit, the old token (a pointer in its grace period) names the key.
    "key_regenerate": Scenario(
        "/key/regenerate", {"grace_period": "1h", "key_alias": "ci3"},
        _with(_bob_in_t1, _bobs_key_in_t1),
        from_setup=lambda context: {"key": context["bob_token"]}, done=_key_regenerated),
    # The per-call routes, with the master key (as the gateway's own key: test_reservations.py).
    # Each scope's counter takes a step; alice's key's and user's counters are made by the
    # first (a read and a put of their own), t1's and her membership's exist (budgets).
    "spend_track": Scenario(
        "/spend/track", {"spend": SPEND}, _with(_budgets, _alices_key_in_t1),
        from_setup=_token, money=_tracked(once=False)),
    # With a request_id the retry counts nothing: the amount lands once, faults or not.
    "spend_track_once": Scenario(
        "/spend/track", {"spend": SPEND, "request_id": "call-1"},
        _with(_budgets, _alices_key_in_t1), from_setup=_token, money=_tracked(once=True)),
    # Without a request_id, the retry is a reservation of its own (the first's, if written,
    # is charged by the schedule as far as it holds).
    "spend_reserve": Scenario(
        "/spend/reserve", {"amount": AMOUNT, "ttl_seconds": LEASE},
        _with(_budgets, _alices_key_in_t1), from_setup=_token, money=_held),
    "spend_reserve_once": Scenario(
        "/spend/reserve", {"amount": AMOUNT, "ttl_seconds": LEASE, "request_id": "call-1"},
        _with(_budgets, _alices_key_in_t1), from_setup=_token, money=_held_once),
    "spend_settle": Scenario(
        "/spend/settle", {"spend": SETTLED}, _with(_budgets, _alices_reservation),
        from_setup=_reservation, money=_moved_out(leases.SETTLED, SETTLED)),
    "spend_release": Scenario(
        "/spend/release", {}, _with(_budgets, _alices_reservation),
        from_setup=_reservation, money=_moved_out(leases.RELEASED, 0)),
}


# Each route's DynamoDB calls when nothing fails (test_each_plan_is_what_the_route_calls).
PLANS: dict[str, tuple[str, ...]] = {
    "team_new": ('BatchGetItem', 'Query', 'BatchGetItem', 'TransactWriteItems'),
    "team_update": ('Query', 'TransactWriteItems'),
    "team_block": ('Query', 'TransactWriteItems'),
    "team_unblock": ('Query', 'TransactWriteItems'),
    "team_delete": ('BatchGetItem', 'TransactWriteItems', 'Query', 'Query', 'BatchGetItem',
                    'TransactWriteItems'),
    "team_member_add": ('Query', 'BatchGetItem', 'Query', 'BatchGetItem', 'Query',
                        'TransactWriteItems'),
    "team_bulk_member_add": ('Query', 'BatchGetItem', 'Query', 'BatchGetItem',
                             'TransactWriteItems'),
    "team_member_delete": ('Query', 'Query', 'BatchGetItem', 'TransactWriteItems'),
    "team_member_update": ('Query', 'GetItem', 'TransactWriteItems'),
    "team_model_add": ('Query', 'TransactWriteItems'),
    "team_model_delete": ('Query', 'TransactWriteItems'),
    "team_permissions_update": ('Query', 'TransactWriteItems'),
    "team_patch": ('Query', 'TransactWriteItems'),
    "user_update": ('Query', 'BatchGetItem', 'Query', 'TransactWriteItems', 'Query'),
    "user_delete": ('BatchGetItem', 'Query', 'BatchGetItem', 'TransactWriteItems'),
    "user_new": ('BatchGetItem', 'Query', 'BatchGetItem', 'TransactWriteItems'),
    "key_generate": ("BatchGetItem", "TransactWriteItems"),
    "key_delete": ("GetItem", "GetItem", "BatchGetItem", "BatchGetItem", "TransactWriteItems"),
    "key_update": ("BatchGetItem", "GetItem", "TransactWriteItems"),
    "key_regenerate": ("BatchGetItem", "TransactWriteItems"),
    "spend_track": ("GetItem", "GetItem", "UpdateItem", "GetItem", "TransactWriteItems",
                    "UpdateItem", "UpdateItem", "GetItem", "TransactWriteItems", "UpdateItem",
                    "UpdateItem", "UpdateItem"),
    "spend_track_once": ("GetItem", "GetItem", "PutItem", "UpdateItem", "GetItem",
                         "TransactWriteItems", "UpdateItem", "UpdateItem", "GetItem",
                         "TransactWriteItems", "UpdateItem", "UpdateItem", "UpdateItem"),
    "spend_reserve": ("GetItem", "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "UpdateItem",
                      "UpdateItem", "GetItem", "TransactWriteItems", "UpdateItem", "UpdateItem",
                      "GetItem", "TransactWriteItems", "UpdateItem"),
    "spend_reserve_once": ("GetItem", "GetItem", "GetItem", "BatchGetItem", "PutItem",
                           "UpdateItem", "UpdateItem", "UpdateItem", "GetItem",
                           "TransactWriteItems", "UpdateItem", "UpdateItem", "GetItem",
                           "TransactWriteItems", "UpdateItem"),
    "spend_settle": ("GetItem", "UpdateItem", "UpdateItem", "UpdateItem", "UpdateItem",
                     "UpdateItem"),
    "spend_release": ("GetItem", "UpdateItem", "UpdateItem", "UpdateItem", "UpdateItem",
                      "UpdateItem"),
}

TRANSACT = "TransactWriteItems"
WRITES = {TRANSACT, "PutItem", "UpdateItem", "DeleteItem"}
KINDS: dict[str, Callable[[str], bool]] = {
    "throttled": lambda operation: True,
    "conflict": lambda operation: operation == TRANSACT,
    "cancelled_throttled": lambda operation: operation == TRANSACT,
    "in_progress": lambda operation: operation == TRANSACT,
    "reset": lambda operation: True,
    "lost": lambda operation: operation in WRITES,
    "resent": lambda operation: operation in WRITES - {TRANSACT},
}
# The per-call routes' plans are long: there `reset` is left out, which the layer cannot tell
# from `throttled` (store.client.call makes both Busy, and neither was applied).
PER_CALL_LEFT_OUT = ("reset",)
def _case(name: str, kind: str, k: int, operation: str):
    return pytest.param(name, kind, k, id=f"{name}-{k}-{operation}-{kind}")


CASES = [_case(name, kind, k, operation)
         for name, plan in PLANS.items() for k, operation in enumerate(plan, 1)
         for kind, applies in KINDS.items() if applies(operation)
         and not (name.startswith("spend_") and kind in PER_CALL_LEFT_OUT)]


# --- the faults ----------------------------------------------------------------------------


class Applied(NamedTuple):
    """A counter step that reached the table and applied: the counter, its token, its moves."""

    counter: Key
    writer: str
    seq: int
    spend: int
    reserved: int


def _is_step(operation: str, params: dict) -> bool:
    """A counter step: an UpdateItem carrying a token (CounterStore._request)."""
    return operation == "UpdateItem" and ":seq" in params.get("ExpressionAttributeValues", {})


class FaultyClient:
    """Stands in for the layer's client's `_make_api_call`: records each call's operation and
    fails the k-th as `kind` says; writes down every counter step that applies (`ledger`)."""

    def __init__(self, client):
        self.client = client
        self.real = client._make_api_call
        self.calls: list[str] = []
        self.fault: tuple[str, int] | None = None
        self.code: str | None = None  # the error code of "throttled", when not the default
        self.step_failed = False  # the failed call was a counter step
        self.ledger: list[Applied] = []

    def arm(self, kind: str | None = None, k: int = 0, code: str | None = None) -> None:
        self.calls, self.fault, self.code = [], (kind, k) if kind else None, code
        self.step_failed = False

    def __call__(self, operation: str, params: dict):
        self.calls.append(operation)
        if self.fault is None or len(self.calls) != self.fault[1]:
            return self._send(operation, params)
        kind, k = self.fault
        self.step_failed = _is_step(operation, params)
        url = self.client.meta.endpoint_url
        if kind == "throttled":
            raise self._error(operation, self.code or (
                "ProvisionedThroughputExceededException" if k % 2 else "ThrottlingException"))
        if kind in ("conflict", "cancelled_throttled"):
            reasons = [{"Code": "None"} for _ in params["TransactItems"]]
            reasons[0] = {"Code": "TransactionConflict",
                          "Message": "Transaction is ongoing for the item"} \
                if kind == "conflict" else {"Code": "ThrottlingError",
                                            "Message": "Request rate is too high."}
            raise self._error(operation, "TransactionCanceledException",
                              CancellationReasons=reasons)
        if kind == "in_progress":
            raise self._error(operation, "TransactionInProgressException")
        if kind in ("lost", "resent"):
            with suppress(ClientError):  # a failed condition's answer is lost as well
                self._send(operation, params)
            if kind == "resent":
                return self._send(operation, params)
        if kind == "reset" and k % 2:
            raise ConnectionClosedError(endpoint_url=url)
        raise ReadTimeoutError(endpoint_url=url)

    def _send(self, operation: str, params: dict):
        answer = self.real(operation, params)
        if _is_step(operation, params):
            values = params["ExpressionAttributeValues"]
            self.ledger.append(Applied(
                (params["Key"]["PK"]["S"], params["Key"]["SK"]["S"]),
                params["ExpressionAttributeNames"]["#me"], int(values[":seq"]["N"]),
                int(values[":s"]["N"]), int(values[":r"]["N"])))
        return answer

    def _error(self, operation: str, code: str, **fields) -> Exception:
        response = {"Error": {"Code": code, "Message": f"injected {code}"},
                    "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 4,
                                         "MaxAttemptsReached": True}} | fields
        return self.client.exceptions.from_code(code)(response, operation)


@pytest.fixture(scope="module")
def table(api):
    """A table of this module's own, emptied before each case (whole-table checks are exact)."""
    name = f"faults-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb"), name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TABLE_NAME", name)
        settings.cache_clear()
        yield boto3.client("dynamodb")
    settings.cache_clear()


# The keys the last case left in the table, when it passed (its final snapshot): one scan less.
_LEFT_BEHIND: dict[str, list[dict]] = {}


@pytest.fixture
def faults(table, monkeypatch) -> FaultyClient:
    keys = _LEFT_BEHIND.pop("keys", None)
    if keys is None:
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in _scan_raw(table)]
    for start in range(0, len(keys), 25):
        table.batch_write_item(RequestItems={settings().table_name: [
            {"DeleteRequest": {"Key": key}} for key in keys[start:start + 25]]})
    dynamodb = client()
    faulty = FaultyClient(dynamodb)
    monkeypatch.setattr(dynamodb, "_make_api_call", faulty)
    return faulty


def _scan_raw(table) -> list[dict]:
    return [i for page in table.get_paginator("scan").paginate(
        TableName=settings().table_name, ConsistentRead=True) for i in page["Items"]]


def _snapshot(table) -> Items:
    return {(i["PK"], i["SK"]): i for i in map(from_item, _scan_raw(table))}


# --- the invariants ------------------------------------------------------------------------

NOT_AUDITED = {"spend", "roster"}  # counters and copies, not changes
# Items that belong to no audited object: what the per-call path and the orders write.
PER_CALL = {"counter", "spend_request", "spend_order"}
# An email's item is part of its user (written with the row, never audited on its own).
# A regenerated key's old token, in its grace period, points to it (part of the key).
OTHER_ITEMS = PER_CALL | {"team", "roster", "member", "user", "key", "audit", "email",
                          "key_pointer", "alias_word"}
LEASE_MARK = (LEASE_MARK_KEY["PK"], LEASE_MARK_KEY["SK"])


def _is_reservation(key: Key) -> bool:
    return key[0].startswith(table_keys.RESERVATION_PREFIX)


def _objects(items: Items) -> dict[tuple[str, str], dict | None]:
    """What the audit describes: (table_name, object_id) -> the object's audited fields, None
    once it is gone (a team marked deleting is gone: its record was written with the mark)."""
    objects: dict[tuple[str, str], dict | None] = {}
    for item in items.values():
        entity = item.get("entity")
        if entity == "team":
            name = (audit.TEAM_TABLE, item["team_id"])
            if item.get("status") != team_store.ACTIVE:
                objects[name] = None
                continue
        elif entity == "member":
            name = (audit.MEMBERSHIP_TABLE, audit.membership_id(item["team_id"], item["user_id"]))
        elif entity == "user":
            name = (audit.USER_TABLE, item["user_id"])
        elif entity == "key":
            name = (audit.KEY_TABLE, item.get("key_id") or item["token"])  # its stable id
        else:
            continue
        objects[name] = {k: v for k, v in item.items() if k not in NOT_AUDITED}
    return objects


def _audit_problems(before: Items, after: Items) -> tuple[set, list[str]]:
    """The objects that changed, and how the audit records added disagree with them."""
    old, new = (_items(i, "audit") for i in (before, after))
    problems = [] if all(r in new for r in old) else ["an audit record changed or vanished"]
    added = [r for r in new if r not in old]
    was, now = _objects(before), _objects(after)
    changed = {o for o in was.keys() | now.keys() if was.get(o) != now.get(o)}
    recorded = Counter((r["table_name"], r["object_id"]) for r in added)
    problems += [f"{o}: changed with {recorded[o]} audit records" for o in changed
                 if recorded[o] != 1]
    problems += [f"{o}: {n} audit records, no change" for o, n in recorded.items()
                 if o not in changed]
    for record in added:
        name = (record["table_name"], record["object_id"])
        expected = ("created",) if was.get(name) is None else ("deleted",) \
            if now.get(name) is None else ("updated", "blocked", "unblocked")
        if record["action"] not in expected:
            problems.append(f"{name}: recorded as {record['action']}, expected {expected}")
        elif record["action"] in ("updated", "blocked", "unblocked"):
            problems += [f"{name}.{f}: recorded {v!r}, stored {now[name].get(f)!r}"
                         for f, v in record["updated_values"].items()
                         if f not in NOT_AUDITED | {"budget_anchor"} and now[name].get(f) != v]
    return changed, problems


def _link_problems(what: str, item: dict, expected: dict, attributes: tuple[str, ...]) -> list:
    return [f"{what}: {a} is {item.get(a)!r}, expected {expected.get(a)!r}"
            for a in attributes if item.get(a) != expected.get(a)]


def _team_problems(team: dict, members: list[dict], roster_item: dict | None) -> list[str]:
    """A team's indexes follow its fields, and its roster (an item of its own beside the team
    item, where the layout has one) lists its members."""
    what = f"team {team['team_id']}"
    problems = []
    if hasattr(table_keys, "roster"):
        if roster_item is None:
            problems.append(f"{what} has no roster item")
        if "roster" in team:
            problems.append(f"{what}: a roster on the team item")
    roster_of = (roster_item or team).get("roster") or {}
    if team.get("status") != team_store.ACTIVE:
        return problems + [f"{what} (deleting) is still in {a}"
                           for a in table_keys.INDEX_ATTRIBUTES if a in team]
    index = table_keys.team_index(team)
    # (Its place in the spend order is an item of its own: no GSI6 on the team item.)
    problems += _link_problems(what, team, index, ("GSI3PK", "GSI3SK", "alias_lower", "GSI5PK",
                                                   "GSI5SK", "GSI6PK", "GSI6SK", "GSI7PK",
                                                   "GSI7SK"))
    roster = {u: (e.get("user_email"), e["role"]) for u, e in roster_of.items()}
    listed = {m["user_id"]: (m.get("user_email"), m["role"]) for m in members}
    if len(listed) <= team_store.ROSTER_LIMIT and roster != listed:
        problems.append(f"{what}: roster {roster} but members {listed}")
    elif len(listed) > team_store.ROSTER_LIMIT and (
            len(roster) != team_store.ROSTER_LIMIT or roster.items() - listed.items()):
        problems.append(f"{what}: roster is not {team_store.ROSTER_LIMIT} of its members")
    return problems


def _key_of(key: dict) -> Key:
    return key["PK"], key["SK"]


def _counter_problems(items: Items) -> list[str]:
    """Each counter counts for an entity that exists (a team's: active or deleting), at the
    key of that entity's counter, with a copy of the entity's budget."""
    problems = []
    for key, counter in items.items():
        if counter.get("entity") != "counter":
            continue
        ref = table_keys.counter_ref(counter)
        what = f"counter {key[0]}/{key[1]}"
        if _key_of(table_keys.counter(ref)) != key:
            problems.append(f"{what} counts for {ref}")
        # A regenerated key's counter is at its first token, its item at its current one.
        owner = next((i for i in items.values() if table_keys.spend_ref(i) == ref), None)
        if owner is None:
            problems.append(f"{what} outlived its {ref}")
            continue
        budget = owner.get("max_budget")
        copy = money.units(budget) if budget is not None else None
        if counter.get("max_budget") != copy:
            problems.append(f"{what}: max_budget {counter.get('max_budget')!r}, its "
                            f"entity's is {copy!r}")
    return problems


def _per_call_problems(items: Items, teams: dict[str, dict]) -> list[str]:
    """A team has its place in the spend order while it exists (active or deleting), and only
    then; reservations are in the lease index by their expiry; nothing else is in the table."""
    problems = []
    places = {i["team_id"]: (k, i) for k, i in items.items() if i.get("entity") == "spend_order"}
    problems += [f"team {t} has no place in the spend order" for t in teams.keys() - places.keys()]
    for team_id, (key, place) in places.items():
        what = f"spend order place {key[0]}"
        if team_id not in teams:
            problems.append(f"{what} of missing team {team_id}")
        if key != _key_of(table_keys.spend_order_item(team_id)):
            problems.append(f"{what} is not team {team_id}'s")
        problems += _link_problems(what, place, table_keys.spend_index(
            team_id, place.get("spend")), ("GSI6PK", "GSI6SK"))
    for key, item in items.items():
        if _is_reservation(key):
            rid = item.get("reservation_id", "")
            what = f"reservation {rid[:8]}"
            if key != _key_of(table_keys.reservation(rid)):
                problems.append(f"{what} is at {key}")
            if item.get("state") not in (leases.HELD, leases.SETTLED,
                                         leases.RELEASED, leases.EXPIRED,
                                         leases.REFUSED):
                problems.append(f"{what}: state {item.get('state')!r}")
            problems += _link_problems(what, item, table_keys.lease_index(
                rid, item.get("team_id"), item["expires_at"]), ("GSI4PK", "GSI4SK"))
        elif item.get("entity") not in OTHER_ITEMS and key != LEASE_MARK \
                and key[0] not in (table_keys.TEAM_COUNTER_PK, table_keys.USER_COUNTER_PK):
            problems.append(f"unexpected item {key}")
    return problems


def _structure_problems(items: Items) -> list[str]:
    teams = {t["team_id"]: t for t in _items(items, "team")}
    users = {u["user_id"]: u for u in _items(items, "user")}
    members = _items(items, "member")
    problems = []
    for member in members:
        what = f"member {member['team_id']}:{member['user_id']}"
        if member["team_id"] not in teams:
            problems.append(f"{what} has no team item")
        if member["user_id"] not in users:
            problems.append(f"{what} has no user")
        problems += _link_problems(what, member, table_keys.member_index(
            member["team_id"], member["user_id"]), ("GSI1PK", "GSI1SK", "GSI7PK", "GSI7SK"))
    for key in _items(items, "key"):
        what = f"key {key['token'][:8]}"
        if key.get("team_id") and key["team_id"] not in teams:
            problems.append(f"{what} belongs to missing team {key['team_id']}")
        # A key may name a user who has no row (generated for an unknown user_id): no problem.
        problems += _link_problems(what, key, table_keys.key_index(
            key["token"], key.get("user_id"), key.get("team_id")),
            ("GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI7PK", "GSI7SK"))
    for user in users.values():
        problems += _link_problems(f"user {user['user_id']}", user, table_keys.user_index(
            user["user_id"], user.get("user_email")), ("GSI2PK", "GSI2SK"))
        problems += _link_problems(f"user {user['user_id']}", user, table_keys.user_list_index(
            user["user_id"], user["created_at"], user.get("user_email")), ("GSI5PK", "GSI5SK"))
    counted = sum(i.get("user_count", 0) for k, i in items.items()
                  if k[0] == table_keys.USER_COUNTER_PK)
    if counted != len(users):
        problems.append(f"user counter says {counted}, {len(users)} users")
    return problems + _email_problems(items, users) + _teams_problems(items, teams, members) + \
        _counter_problems(items) + _per_call_problems(items, teams) + _alias_word_problems(items)


def _alias_word_problems(items: Items) -> list[str]:
    """The alias word index holds exactly the entries of the active teams' aliases (none of a
    team being deleted, none left by a transaction that failed)."""
    wanted = {k: i for t in _items(items, "team") if t.get("status") == team_store.ACTIVE
              for k, i in alias_words.entries(t).items()}
    found = {k: i for k, i in items.items() if i.get("entity") == "alias_word"}
    return [f"alias word {k} is {found.get(k)}, not {wanted.get(k)}"
            for k in wanted.keys() | found.keys() if found.get(k) != wanted.get(k)]


def _email_problems(items: Items, users: dict[str, dict]) -> list[str]:
    """Each user with an email has that email's item, naming them; each email item is a
    user's, at the key of that user's email."""
    emails = {k: i for k, i in items.items() if i.get("entity") == "email"}
    problems = []
    for key, item in emails.items():
        user = users.get(item.get("user_id"))
        if user is None or key != _key_of(table_keys.email(user.get("user_email") or "")):
            problems.append(f"email item {key} is not user {item.get('user_id')}'s email")
    for user in users.values():
        if user.get("user_email"):
            item = emails.get(_key_of(table_keys.email(user["user_email"])))
            if item is None or item.get("user_id") != user["user_id"]:
                problems.append(f"user {user['user_id']}: no email item naming them")
    return problems


def _teams_problems(items: Items, teams: dict[str, dict], members: list[dict]) -> list[str]:
    problems = []
    active = [t for t in teams.values() if t.get("status") == team_store.ACTIVE]
    counted = sum(i.get("team_count", 0) for k, i in items.items()
                  if k[0] == table_keys.TEAM_COUNTER_PK)
    if counted != len(active):
        problems.append(f"team counter says {counted}, {len(active)} active teams")
    rosters = {i["team_id"]: (k, i) for k, i in items.items() if i.get("entity") == "roster"}
    for team_id, (key, _) in rosters.items():
        if team_id not in teams:
            problems.append(f"roster of missing team {team_id}")
        if key != _key_of(table_keys.roster(team_id)):
            problems.append(f"roster of team {team_id} at {key}")
    for team in teams.values():
        problems += _team_problems(team, [m for m in members if m["team_id"] == team["team_id"]],
                                   rosters.get(team["team_id"], (None, None))[1])
    return problems


def _scope_counters(items: Items) -> dict[str, Key]:
    """The counters of alice's key in t1, by scope (none: no such key)."""
    found = _items(items, "key", user_id="alice", team_id="t1")
    if len(found) != 1:
        return {}
    return {name: _key_of(table_keys.counter(ref)) for name, ref in scopes_of(found[0]).items()}


def _money(items: Items, ledger: list[Applied], replies: list[Reply] = (), *,
           unfinished: bool = False) -> Money:
    """The counters read against the ledger of the steps that applied:
    - no step applied twice; each counter holds what its steps add up to (nothing else moved
      it), with used = spend + reserved, and neither below 0;
    - each reservation, on each counter of its scopes, moved what its state says: held, its
      amount reserved where its reserve step applied (a reservation a 200 named: everywhere);
      settled, its spend; expired, its amount as spend where it was held; released or
      refused, nothing. A move recorded on it whose steps have not all applied is allowed
      only when `unfinished` (an answer that failed) and for none that a 200 named;
    - the steps no reservation names hold nothing (`tracked`: their spend, /spend/track's).
    """
    counters = {k: i for k, i in items.items() if i.get("entity") == "counter"}
    held = {k: i for k, i in items.items() if _is_reservation(k)}
    by_id = {i["reservation_id"]: i for i in held.values()}
    problems: list[str] = []
    seen: set[tuple[Key, str, int]] = set()
    steps: dict[Key, dict[tuple[str, int], Applied]] = defaultdict(dict)
    for step in ledger:
        token = (step.counter, step.writer, step.seq)
        if token in seen:
            problems.append(f"counter {step.counter}: step {step.writer}:{step.seq} applied "
                            "twice")
        seen.add(token)
        steps[step.counter][step.writer, step.seq] = step
    for key, counter in counters.items():
        spend, reserved, used = (int(counter.get(a, 0)) for a in ("spend", "reserved", "used"))
        what = f"counter {key[0]}/{key[1]}"
        if used != spend + reserved:
            problems.append(f"{what}: used {used} is not spend {spend} + reserved {reserved}")
        if spend < 0 or reserved < 0:
            problems.append(f"{what}: spend {spend}, reserved {reserved}")
        applied = (sum(s.spend for s in steps[key].values()),
                   sum(s.reserved for s in steps[key].values()))
        if (spend, reserved) != applied:
            problems.append(f"{what}: spend, reserved {(spend, reserved)}, its steps add up "
                            f"to {applied}")
    named = {r.body["reservation_id"] for r in replies
             if r.status == 200 and isinstance(r.body, dict) and "reservation_id" in r.body}
    owned: set[tuple[str, int]] = set()
    for rid, reservation in by_id.items():
        tokens, reservation_problems = _moved_by(reservation, steps, counters,
                                                 unfinished and rid not in named, rid in named)
        owned |= tokens
        problems += reservation_problems
    tracked: dict[Key, int] = {}
    for key, applied in steps.items():
        others = [s for token, s in applied.items() if token not in owned]
        tracked[key] = sum(s.spend for s in others)
        if any(s.reserved for s in others):
            problems.append(f"counter {key}: a hold no reservation holds: {others}")
    return Money(counters, by_id, _scope_counters(items), tracked, problems)


def _moved_by(reservation: dict, steps: dict[Key, dict[tuple[str, int], Applied]],
              counters: dict[Key, dict], unfinished: bool,
              named: bool) -> tuple[set[tuple[str, int]], list[str]]:
    """The tokens of a reservation's steps, and how what they moved disagrees with its state."""
    scopes = scopes_of({"token": reservation["token"], "team_id": reservation.get("team_id"),
                        "user_id": reservation.get("user_id")})
    names = list(reservation["scopes"])
    amount, state = int(reservation["amount"]), reservation["state"]
    ops = reservation.get("ops") or {}
    # The reserve step of scope i is (writer, seq + 2i), its undo (writer, seq + 2i + 1); a
    # move's step of scope i is (its writer, its seq + i).
    reserve = {(reservation["writer"], int(reservation["seq"]) + j)
               for j in range(2 * len(names))}
    moves = {op: {(steps_of["writer"], int(steps_of["seq"]) + j) for j in range(len(names))}
             for op, steps_of in ops.items() if "seq" in steps_of}
    tokens = reserve.union(*moves.values())
    what = f"reservation {reservation['reservation_id'][:8]} ({state})"
    problems = []
    if "correct" in ops:
        return tokens, [f"{what}: a late settle, which no scenario makes"]
    move = {leases.SETTLED: "settle", leases.RELEASED: "release",
            leases.EXPIRED: "expire", leases.REFUSED: "undo"}.get(state)
    if (move is None) != (not ops) or (move is not None and move not in ops):
        problems.append(f"{what}: moves recorded {sorted(ops)}")
    for name in names:
        key = _key_of(table_keys.counter(scopes[name]))
        if key not in counters:
            continue
        mine = [s for token, s in steps.get(key, {}).items() if token in tokens]
        moved = (sum(s.spend for s in mine), sum(s.reserved for s in mine))
        hold = any(s.reserved > 0 for s in mine
                   if (s.writer, s.seq) in reserve)  # the reserve step applied here
        if named and not hold:
            problems.append(f"{what}: answered 200, but holds nothing on {name}")
        holding = (0, amount if hold else 0)
        expected = {leases.HELD: holding, leases.SETTLED: (
            int(reservation.get("spend", 0)), 0), leases.EXPIRED: (
            amount if hold else 0, 0)}.get(state, (0, 0))
        if move is not None and move in ops and name in ops[move].get("scopes", names):
            step_tokens = moves.get(move) or {(reservation["writer"], int(
                reservation["seq"]) + 2 * names.index(name) + 1)}
            if not any((s.writer, s.seq) in step_tokens for s in mine):
                if unfinished:
                    expected = holding  # recorded; the retry (or the schedule) finishes it
                else:
                    problems.append(f"{what}: its {move} never moved {name}")
        if moved != expected:
            problems.append(f"{what} moved (spend, reserved) {moved} on {name}, expected "
                            f"{expected} (holds there: {hold})")
    return tokens, problems


def _per_call(items: Items) -> dict[Key, dict]:
    return {k: i for k, i in items.items()
            if i.get("entity") in ("counter", "spend_request") or _is_reservation(k)}


def check(before: Items, after: Items, found: Money | None = None) -> set:
    """Every invariant over the whole table; returns the objects that changed."""
    changed, problems = _audit_problems(before, after)
    problems += _structure_problems(after) + (found.problems if found else [])
    assert not problems, "\n".join(problems)
    return changed


# --- the tests -----------------------------------------------------------------------------


def _send(api, name: str, context: dict):
    scenario = SCENARIOS[name]
    key = context[scenario.caller] if scenario.caller else None
    body = scenario.body | scenario.from_setup(context)
    return api.call(scenario.method, scenario.path, body=body, path_params=scenario.path_params,
                    **({"key": key} if key else {}))


def _retry_or_done(reply: Reply) -> None:
    """A JSON error the client may retry, or success; never a 500."""
    if reply.status != 200:
        assert reply.status == 503 and "retry" in reply.body["detail"]["error"], reply


# Each scenario's table after its setup, its context and the steps the setup applied: the
# setup runs once, and each later case of the scenario starts from a copy of its table.
_SETUPS: dict[str, tuple[list[dict], dict, list[Applied]]] = {}


def _set_up(api, table, faults: FaultyClient, name: str) -> tuple[dict, Items]:
    """The scenario's setup (the context and the table it leaves), made or copied."""
    if name not in _SETUPS:
        context = SCENARIOS[name].setup(api)
        _SETUPS[name] = (_scan_raw(table), context, list(faults.ledger))
    else:
        raw, context, ledger = _SETUPS[name]
        for start in range(0, len(raw), 25):
            table.batch_write_item(RequestItems={settings().table_name: [
                {"PutRequest": {"Item": item}} for item in raw[start:start + 25]]})
        faults.ledger[:] = ledger
    raw, context, _ = _SETUPS[name]
    return context, {(i["PK"], i["SK"]): i for i in map(from_item, raw)}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_plan_is_what_the_route_calls(api, table, faults, name):
    # Given the route's setup, when its request runs without faults
    context, before = _set_up(api, table, faults, name)
    faults.arm()
    reply = _send(api, name, context)
    calls = tuple(faults.calls)
    # Then it succeeds, keeps every invariant, and makes the calls its plan lists
    assert reply.status == 200, reply
    after = _snapshot(table)
    found = _money(after, faults.ledger, [reply])
    assert check(before, after, found) or _per_call(before) != _per_call(after)
    SCENARIOS[name].money([found], [reply])
    assert SCENARIOS[name].done(after, False) is not False
    assert calls == PLANS.get(name), f'"{name}": {calls!r},'


def _allowed(kind: str, step: bool) -> tuple[int, ...]:
    """The answers a fault of that kind may end in: a conflict may be retried inside; a counter
    step is sent again by the layer (its marks make that safe); a resent write's second answer
    (a failed condition, where it had one) must be read as done."""
    if kind in ("conflict", "cancelled_throttled"):
        return (200, 503)
    if kind == "resent" or step:
        return (200,)
    return (503,)


@pytest.mark.parametrize(("name", "kind", "k"), CASES)
def test_a_fault_fails_one_call_and_nothing_else(api, table, faults, name, kind, k):
    scenario = SCENARIOS[name]
    context, before = _set_up(api, table, faults, name)
    assert not _structure_problems(before)

    # When the k-th DynamoDB call of the request fails
    faults.arm(kind, k)
    reply = _send(api, name, context)
    calls, step = faults.calls, faults.step_failed
    faults.arm()
    assert calls[k - 1] == PLANS[name][k - 1]

    # Then the answer is a JSON error to retry, or success where the layer may send again
    assert reply.status in _allowed(kind, step), reply
    _retry_or_done(reply)
    if kind == "lost" and not step:  # what may have been applied is not sent again
        assert len(calls) == k, calls
    # and every invariant holds; what changed, changed whole and with one audit record each;
    # every amount moved once at most (a move recorded may still be unfinished after a 503).
    middle = _snapshot(table)
    history = [_money(middle, faults.ledger, [reply], unfinished=reply.status != 200)]
    committed = bool(check(before, middle, history[0])) or _per_call(before) != _per_call(middle)
    scenario.money(history, [reply])
    if reply.status == 200:
        assert committed

    # When the same request is sent again without faults
    again = _send(api, name, context)

    # Then it answers as the first attempt left things, and the table keeps its promises
    assert again.status == scenario.again(committed, middle), again
    final = _snapshot(table)
    history.append(_money(final, faults.ledger, [reply, again]))
    check(middle, final, history[-1])
    scenario.money(history, [reply, again])
    assert scenario.done(final, committed and again.status == 200) is not False

    # A reservation held that no answer named (a first attempt that failed after writing it)
    # is charged by the schedule once its lease ends, as far as it holds, and nothing stays held.
    named = {r.body.get("reservation_id") for r in (reply, again) if r.status == 200}
    if any(r["state"] == leases.HELD and rid not in named
           for rid, r in history[-1].reservations.items()):
        final = _after_the_leases(table, faults, final, [reply, again], history)
        scenario.money(history, [reply, again])
    _LEFT_BEHIND["keys"] = [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in final]


def _after_the_leases(table, faults: FaultyClient, items: Items, replies: list[Reply],
                      history: list[Money]) -> Items:
    ends = [from_iso(r["expires_at"]) for r in history[-1].reservations.values()]
    report = Report()
    leases.expire_leases(max(ends) + timedelta(seconds=1), report)
    assert not report.errors, report
    after = _snapshot(table)
    history.append(_money(after, faults.ledger, replies))
    check(items, after, history[-1])
    assert not [r for r in history[-1].reservations.values() if r["state"] == leases.HELD]
    assert not [k for k, c in history[-1].counters.items() if c["reserved"]]
    return after


# A write that records the tokens of a request's counter steps (a reservation, a spend note, a
# move) can apply with its answer lost: the request answers 503 and retires its writer
# (leases.unsure), so that writer's later steps never pass the recorded tokens' marks.
@pytest.mark.parametrize(("name", "operation"), [("spend_track_once", "PutItem"),
                                                 ("spend_reserve_once", "PutItem"),
                                                 ("spend_settle", "UpdateItem")])
def test_a_lost_answer_s_steps_are_taken_after_other_calls(api, table, faults, name, operation):
    """The retry of a request whose recorded steps were written with the answer lost, after
    the same execution environment served another call (what Lambda does meanwhile)."""
    context, before = _set_up(api, table, faults, name)
    # Given the write that records the request's steps (a note, a reservation, a move) applied,
    # and its answer lost
    faults.arm("lost", PLANS[name].index(operation) + 1)
    first = _send(api, name, context)
    faults.arm()
    assert first.status == 503, first
    # When the same environment serves another report on the key, and then the retry comes
    other = api.post("/spend/track", {"token": context["spend_token"], "spend": SPEND,
                                      "request_id": "call-2"})
    again = _send(api, name, context)
    assert (other.status, again.status) == (200, 200), (other, again)
    # Then each amount moved once, on every scope: none was judged applied that never was
    final = _snapshot(table)
    found = _money(final, faults.ledger, [again])
    check(before, final, found)
    reports = 2 if name == "spend_track_once" else 1
    assert {s: found.tracked_on(s) for s in SCOPES} == {
        s: reports * money.units(SPEND) for s in SCOPES}


# What DynamoDB answers when it is busy or not quite there, after botocore's retries.
BUSY_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
              "TransactionInProgressException")


@pytest.mark.parametrize("code", BUSY_CODES)
def test_every_busy_answer_of_dynamodb_is_a_503(api, table, faults, code):
    # Given a team; when the write of its update gets `code` from DynamoDB
    _base(api)
    before = _snapshot(table)
    faults.arm("throttled", 2, code)
    reply = api.post("/team/update", {"team_id": "t1", "team_alias": "Renamed"})
    # Then the client is told to retry, and nothing changed
    assert faults.calls[1] == "TransactWriteItems"
    assert reply.status == 503 and "retry" in reply.body["detail"]["error"], reply
    assert not check(before, _snapshot(table))
