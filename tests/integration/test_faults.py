"""Fault injection: every DynamoDB call of every mutating route fails in turn, and afterwards
the table still keeps its promises (the project's standards: a failed transaction leaves no trace,
every committed change has exactly one audit record), the answer is a JSON error the client may
retry (never a 500), and the same request sent again without faults does what it asked.

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
  of a transaction cannot apply it twice; this is the case where all of them lost the answer.

Which call is the k-th comes from PLANS, each route's calls without faults;
`test_each_plan_is_what_the_route_calls` fails when a route's calls change, and prints the
new plan. Each case starts from an empty table of this module's own, so the invariant checks
look at every item.
"""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from teamledger.config import settings
from teamledger.domain import audit
from teamledger.store import keys as table_keys
from teamledger.store import teams as team_store
from teamledger.store.client import client
from teamledger.store.marshal import from_item

from tests.support.client import Api
from tests.support.template import create_table

Items = dict[tuple[str, str], dict]

# --- the requests --------------------------------------------------------------------------


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
    assert len(_items(items, "user", user_id="frank")) == 1


SPEND = 0.25  # what the spend_track scenario reports, to its key, user, team and membership


def _spend_done(items: Items, twice: bool) -> None:
    # /spend/track is not idempotent: a retry after a 503 whose commit landed counts twice.
    [key] = _items(items, "key", user_id="alice", team_id="t1")
    expected = SPEND * (1 + twice)
    assert key["spend"] == expected
    assert _team(items)["spend"] == expected
    assert items[("TEAM#t1", "MEMBER#alice")]["spend"] == expected


def _bad_request_if_committed(committed: bool, items: Items) -> int:
    return 400 if committed else 200


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
    "team_member_delete": Scenario(
        "/team/member_delete", {"team_id": "t1", "user_id": "alice"}, _with(),
        again=_bad_request_if_committed,
        done=lambda items, twice: "alice" not in _member_ids(items)),
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
    "spend_track": Scenario(
        "/spend/track", {"spend": SPEND},
        _with(_alices_key_in_t1),
        from_setup=lambda context: {"token": context["spend_token"]}, done=_spend_done),
    # With a request_id the retry counts nothing: the amount lands once, faults or not.
    "spend_track_once": Scenario(
        "/spend/track", {"spend": SPEND, "request_id": "call-1"},
        _with(_alices_key_in_t1),
        from_setup=lambda context: {"token": context["spend_token"]},
        done=lambda items, twice: _spend_done(items, False)),
}


# Each route's DynamoDB calls when nothing fails (test_each_plan_is_what_the_route_calls).
PLANS: dict[str, tuple[str, ...]] = {
    "team_new": ("Query", "BatchGetItem", "TransactWriteItems"),
    "team_update": ("Query", "TransactWriteItems"),
    "team_block": ("Query", "TransactWriteItems"),
    "team_unblock": ("Query", "TransactWriteItems"),
    "team_delete": ("BatchGetItem", "TransactWriteItems", "Query", "Query", "TransactWriteItems"),
    "team_member_add": ("Query", "Query", "BatchGetItem", "Query", "TransactWriteItems"),
    "team_bulk_member_add": ("Query", "Query", "BatchGetItem", "TransactWriteItems"),
    "team_member_delete": ("Query", "TransactWriteItems"),
    "team_member_update": ("Query", "TransactWriteItems"),
    "team_model_add": ("Query", "TransactWriteItems"),
    "team_model_delete": ("Query", "TransactWriteItems"),
    "user_new": ("BatchGetItem", "TransactWriteItems"),
    "key_generate": ("BatchGetItem", "TransactWriteItems"),
    "key_delete": ("GetItem", "BatchGetItem", "BatchGetItem", "TransactWriteItems"),
    "spend_track": ("GetItem", "TransactWriteItems", "BatchGetItem", "UpdateItem"),
    "spend_track_once": ("GetItem", "TransactWriteItems", "BatchGetItem", "UpdateItem"),
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
}
CASES = [pytest.param(name, kind, k, id=f"{name}-{k}-{operation}-{kind}")
         for name, plan in PLANS.items() for k, operation in enumerate(plan, 1)
         for kind, applies in KINDS.items() if applies(operation)]

# --- the faults ----------------------------------------------------------------------------


class FaultyClient:
    """Stands in for the layer's client's `_make_api_call`: records each call's operation and
    fails the k-th as `kind` says."""

    def __init__(self, client):
        self.client = client
        self.real = client._make_api_call
        self.calls: list[str] = []
        self.fault: tuple[str, int] | None = None
        self.code: str | None = None  # the error code of "throttled", when not the default

    def arm(self, kind: str | None = None, k: int = 0, code: str | None = None) -> None:
        self.calls, self.fault, self.code = [], (kind, k) if kind else None, code

    def __call__(self, operation: str, params: dict):
        self.calls.append(operation)
        if self.fault is None or len(self.calls) != self.fault[1]:
            return self.real(operation, params)
        kind, k = self.fault
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
        if kind == "lost":
            self.real(operation, params)
        if kind == "reset" and k % 2:
            raise ConnectionClosedError(endpoint_url=url)
        raise ReadTimeoutError(endpoint_url=url)

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

NOT_AUDITED = {"spend", "roster", "GSI6PK", "GSI6SK"}  # counters and copies, not changes


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
            name = (audit.KEY_TABLE, item["token"])
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


def _team_problems(team: dict, members: list[dict]) -> list[str]:
    what = f"team {team['team_id']}"
    if team.get("status") != team_store.ACTIVE:
        return [f"{what} (deleting) is still in {a}" for a in table_keys.INDEX_ATTRIBUTES
                if a in team]
    index = table_keys.team_index(team)
    problems = _link_problems(what, team, index, ("GSI3PK", "GSI3SK", "alias_lower", "GSI5PK",
                                                  "GSI5SK", "GSI7PK", "GSI7SK"))
    problems += _link_problems(f"{what} spend order", team, index, ("GSI6PK", "GSI6SK"))
    roster = {u: (e.get("user_email"), e["role"]) for u, e in (team.get("roster") or {}).items()}
    listed = {m["user_id"]: (m.get("user_email"), m["role"]) for m in members}
    if len(listed) <= team_store.ROSTER_LIMIT and roster != listed:
        problems.append(f"{what}: roster {roster} but members {listed}")
    elif len(listed) > team_store.ROSTER_LIMIT and (
            len(roster) != team_store.ROSTER_LIMIT or roster.items() - listed.items()):
        problems.append(f"{what}: roster is not {team_store.ROSTER_LIMIT} of its members")
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
        if key.get("user_id") and key["user_id"] not in users:
            problems.append(f"{what} belongs to missing user {key['user_id']}")
        problems += _link_problems(what, key, table_keys.key_index(
            key["token"], key.get("user_id"), key.get("team_id")),
            ("GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI7PK", "GSI7SK"))
    for user in users.values():
        problems += _link_problems(f"user {user['user_id']}", user, table_keys.user_index(
            user["user_id"], user.get("user_email")), ("GSI2PK", "GSI2SK"))
    active = [t for t in teams.values() if t.get("status") == team_store.ACTIVE]
    counted = sum(i.get("team_count", 0) for k, i in items.items()
                  if k[0] == table_keys.TEAM_COUNTER_PK)
    if counted != len(active):
        problems.append(f"team counter says {counted}, {len(active)} active teams")
    for team in teams.values():
        problems += _team_problems(team, [m for m in members if m["team_id"] == team["team_id"]])
    return problems


def _spend_moved(before: Items, after: Items) -> dict:
    deltas = {k: round(after[k].get("spend", 0) - before[k].get("spend", 0), 9)
              for k in before.keys() & after.keys() if "spend" in after[k]}
    return {k: d for k, d in deltas.items() if d}


def _spend_problems(before: Items, after: Items) -> list[str]:
    """A spend report reaches all of its owners (the scenario's key has four) or none."""
    moved = _spend_moved(before, after)
    if moved and (set(moved.values()) != {SPEND} or len(moved) != 4):
        return [f"spend added partially: {moved}"]
    return []


def check(before: Items, after: Items, *, stale_spend_order: bool = False) -> set:
    """Every invariant over the whole table; returns the objects that changed."""
    changed, problems = _audit_problems(before, after)
    problems += _structure_problems(after) + _spend_problems(before, after)
    if stale_spend_order:  # see test_a_fault_fails_one_call_and_nothing_else
        problems = [p for p in problems if "spend order" not in p]
    assert not problems, "\n".join(problems)
    return changed


# --- the tests -----------------------------------------------------------------------------


def _send(api, name: str, context: dict):
    scenario = SCENARIOS[name]
    key = context[scenario.caller] if scenario.caller else None
    body = scenario.body | scenario.from_setup(context)
    return api.post(scenario.path, body, **({"key": key} if key else {}))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_plan_is_what_the_route_calls(api, table, faults, name):
    # Given the route's setup, when its request runs without faults
    context = SCENARIOS[name].setup(api)
    before = _snapshot(table)
    faults.arm()
    reply = _send(api, name, context)
    calls = tuple(faults.calls)
    # Then it succeeds, keeps every invariant, and makes the calls its plan lists
    assert reply.status == 200, reply
    after = _snapshot(table)
    assert check(before, after) or _spend_moved(before, after)
    assert SCENARIOS[name].done(after, False) is not False
    assert calls == PLANS.get(name), f'"{name}": {calls!r},'


@pytest.mark.parametrize(("name", "kind", "k"), CASES)
def test_a_fault_fails_one_call_and_nothing_else(api, table, faults, name, kind, k):
    scenario = SCENARIOS[name]
    context = scenario.setup(api)
    before = _snapshot(table)
    assert not _structure_problems(before)

    # When the k-th DynamoDB call of the request fails
    faults.arm(kind, k)
    reply = _send(api, name, context)
    calls = faults.calls
    faults.arm()
    assert calls[k - 1] == PLANS[name][k - 1]

    # Then the answer is a JSON error to retry (a conflict may also be retried inside: 200)
    allowed = (200, 503) if kind in ("conflict", "cancelled_throttled") else (503,)
    assert reply.status in allowed, reply
    if reply.status != 200:
        assert "retry" in reply.body["detail"]["error"], reply
    if kind == "lost":  # the layer never sends again what may have been applied
        assert len(calls) == k, calls
    # and every invariant holds; what changed, changed whole and with one audit record each.
    # (A spend report whose answer failed after its commit leaves the team's place in the
    # spend order for the next report to fix: the retry below.)
    middle = _snapshot(table)
    spent = bool(_spend_moved(before, middle))
    committed = bool(check(before, middle, stale_spend_order=spent)) or spent
    if reply.status == 200:
        assert committed

    # When the same request is sent again without faults
    again = _send(api, name, context)

    # Then it answers as the first attempt left things, and the table keeps its promises
    assert again.status == scenario.again(committed, middle), again
    final = _snapshot(table)
    check(middle, final)
    assert scenario.done(final, committed and again.status == 200) is not False
    _LEFT_BEHIND["keys"] = [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in final]


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
    assert reply.status == 503 and "retry" in reply.body["detail"]["error"], reply
    assert not check(before, _snapshot(table))
