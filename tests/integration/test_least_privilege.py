"""Least privilege, per function: each function's DynamoDB actions in template.yaml are exactly
those it calls, no more and no fewer (docs/architecture.md, "Least privilege, per function").

Given every route's handler called through its flows (the request-count bench's scenario by
the master key and a team admin's key; test_faults' scenarios without faults; the per-call
routes; Idempotency-Key requests answered, replayed and failed; AVAILABLE_TEAMS; every route's
error paths) and a budget reset run with budgets due and a lease expired, with a botocore hook
on the layer's client recording each call as the IAM actions it needs (TransactWriteItems: the
actions of its items), then each function's granted actions equal the recorded ones plus those
of RARE (paths no scenario reaches, each with its reason); a statement limited by
`dynamodb:LeadingKeys` covers every partition its actions were called on; the stream consumers
(NOT_ROUTES) are granted what their code calls; only authenticating routes read the secret.
"""

import fnmatch
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import boto3
import pytest
from teamledger.config import settings
from teamledger.domain import budget_reset
from teamledger.store.client import client
from teamledger.timestamps import utcnow

from bench.handlers import Handlers
from bench.request_counts import run
from tests.support.client import MASTER_KEY, Api, Reply
from tests.support.template import configured, create_table, function_ids, load_template, routes

# TransactWriteItems needs, per item, the action of a single write of that kind.
TRANSACT_ITEM_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
                         "Delete": "dynamodb:DeleteItem",
                         "ConditionCheck": "dynamodb:ConditionCheckItem"}

# Calls that only happen on paths no scenario here reaches, with the reason.
_COUNTER_CREATED = ("CounterStore.step creates a counter it finds missing (a check of its "
                    "entity and a put, counters._create); the reservation's counters exist")
RARE: dict[str, dict[str, str]] = {
    "SpendSettleFunction": {"dynamodb:ConditionCheckItem": _COUNTER_CREATED,
                            "dynamodb:PutItem": _COUNTER_CREATED},
    "SpendReleaseFunction": {"dynamodb:ConditionCheckItem": _COUNTER_CREATED,
                             "dynamodb:PutItem": _COUNTER_CREATED},
    # An expired lease's steps are a settle's (the PutItem is the resets' audit records too).
    "BudgetResetFunction": {"dynamodb:ConditionCheckItem": _COUNTER_CREATED},
}

# Functions without a route: what their code calls (see their modules), asserted as granted.
NOT_ROUTES: dict[str, set[str]] = {
    # The "published" markers only: read before a put, written after it.
    "AuditPublisherFunction": {"dynamodb:BatchGetItem", "dynamodb:PutItem"},
    # The spend order's items: one UpdateItem each.
    "SpendOrderFunction": {"dynamodb:UpdateItem"},
    # Touch nothing (the console's files are read from the function's package).
    "HealthLivelinessFunction": set(),
    "UiFunction": set(),
}


class ActionRecorder:
    """Records, per function, the IAM actions of every DynamoDB call of the layer's client."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.actions: dict[str, set[str]] = defaultdict(set)
        # (function, action) -> the partition keys it wrote or read by key (LeadingKeys)
        self.partitions: dict[tuple[str, str], set[str]] = defaultdict(set)
        # bench.request_counts.Scenario's recorder interface
        self.start = lambda: None
        self.stop = lambda: {}

    def attach(self, dynamodb) -> None:
        dynamodb.meta.events.register("before-parameter-build.dynamodb.*", self._before_call,
                                      unique_id="least-privilege")

    def detach(self, dynamodb) -> None:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.*",
                                        unique_id="least-privilege")

    def _before_call(self, model, params, **_kwargs) -> None:
        assert self.current, f"a DynamoDB call ({model.name}) outside any handler"
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, request),) = item.items()
                self._add(TRANSACT_ITEM_ACTIONS[kind], [request])
        elif model.name == "BatchGetItem":
            self._add("dynamodb:BatchGetItem",
                      [{"Key": key} for table in params["RequestItems"].values()
                       for key in table["Keys"]])
        else:
            self._add(f"dynamodb:{model.name}", [params])

    def _add(self, action: str, requests: list[dict]) -> None:
        self.actions[self.current].add(action)
        for request in requests:
            key = request.get("Key") or request.get("Item")
            if key:
                self.partitions[(self.current, action)].add(key["PK"]["S"])


class RecordingHandlers(Handlers):
    """bench's Handlers, telling the recorder which function each call is in."""

    def __init__(self, recorder: ActionRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def prepare(self, method, path, **kwargs):
        handler, event, context = super().prepare(method, path, **kwargs)
        function = self._routes[(method, path)].function

        def recorded(event, context):
            self.recorder.current = function
            try:
                return handler(event, context)
            finally:
                self.recorder.current = None

        return recorded, event, context


class RecordingApi(Api):
    """The test client, telling the recorder which function each call is in."""

    def __init__(self, recorder: ActionRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def call(self, method: str, path: str, **kwargs) -> Reply:
        self.recorder.current = self.routes[(method, path)].function
        try:
            return super().call(method, path, **kwargs)
        finally:
            self.recorder.current = None


# Beyond the table: the routes read the master key's secret (health does not authenticate);
# the audit publisher sends to its carrier (SendMessageBatch is sqs:SendMessage), and with the
# stack's own key asks KMS for data keys (SQS reads them back too). Per (AuditCarrier,
# CreateAuditKmsKey); tests/integration/test_audit_stream.py records what it really calls.
OTHER_ACTIONS: dict[tuple[str, str], dict[str, set[str]]] = {
    ("sqs-fifo", "false"): {"AuditPublisherFunction": {"sqs:SendMessage"}},
    ("sqs-fifo", "true"): {"AuditPublisherFunction": {"sqs:SendMessage", "kms:GenerateDataKey",
                                                      "kms:Decrypt"}},
    ("kinesis", "false"): {"AuditPublisherFunction": {"kinesis:PutRecord"}},
    ("kinesis", "true"): {"AuditPublisherFunction": {"kinesis:PutRecord",
                                                     "kms:GenerateDataKey"}},
}
SECRET_POLICY = {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "MasterKeySecret"}}}


def _actions(properties: dict) -> set[str]:
    """Every action of a function's explicit statements."""
    actions: set[str] = set()
    for policy in properties.get("Policies") or []:
        assert isinstance(policy, dict), f"a managed policy ({policy}): not least privilege"
        for name, body in policy.items():
            if name != "Statement":
                assert policy == SECRET_POLICY, "a SAM policy template other than the secret's"
                continue
            for statement in body:
                listed = statement["Action"]
                actions |= set([listed] if isinstance(listed, str) else listed)
    return actions


def _conditioned(properties: dict) -> dict[str, list[str | None]]:
    """Per DynamoDB action, the LeadingKeys patterns of each statement granting it (None: any
    partition)."""
    found: dict[str, list[str | None]] = defaultdict(list)
    for policy in properties.get("Policies") or []:
        for statement in policy.get("Statement", []):
            listed = statement["Action"]
            condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
            patterns = condition.get("dynamodb:LeadingKeys") or [None]
            for action in [listed] if isinstance(listed, str) else listed:
                found[action] += patterns
    return found


def _granted(properties: dict) -> set[str]:
    """The DynamoDB actions of a function's Policies."""
    return {action for action in _actions(properties) if action.startswith("dynamodb:")}


@pytest.mark.parametrize(("carrier", "own_key"), list(OTHER_ACTIONS))
def test_beyond_the_table_each_function_gets_the_secret_or_its_carrier_only(carrier, own_key):
    # Given the template's functions, deployed with this audit carrier and key
    template = configured(load_template(), AuditCarrier=carrier, CreateAuditKmsKey=own_key)
    routed = {route.function for route in routes(template)} - {"HealthLivelinessFunction",
                                                               "UiFunction"}
    for function in function_ids(template):
        properties = template["Resources"][function]["Properties"]
        policies = properties.get("Policies") or []

        # Then the routes that authenticate read the master key's secret, nothing else does,
        # and no function gets another service's action but the audit publisher's carrier
        assert (SECRET_POLICY in policies) == (function in routed), function
        others = {a for a in _actions(properties) if not a.startswith("dynamodb:")}
        assert others == OTHER_ACTIONS[carrier, own_key].get(function, set()), function


def _error_paths(api: RecordingApi) -> None:
    """Each route with an unknown key, and with the master key and a team that does not exist:
    refused, with what they read on the way."""
    for route in routes(load_template()):
        path_params = {name: "missing" for name in ("team_id", "key")
                       if f"{{{name}}}" in route.path} or None
        for key in ("sk-unknown-key", MASTER_KEY):
            reply = api.call(route.method, route.path, key=key, body={"team_id": "missing"},
                             query={"team_id": "missing"}, path_params=path_params)
            assert reply.status < 500, (route, reply)


def _per_call_flows(api: RecordingApi) -> None:
    """The per-call routes and the routes with path parameters the bench does not measure."""
    team_id = api.new_team(max_budget=10.0)["team_id"]
    token = api.new_key(team_id=team_id, max_budget=5.0)["key"]
    first = api.ok(api.post("/spend/reserve", {"token": token, "amount": 0.5}))
    api.ok(api.post("/spend/settle", {"reservation_id": first["reservation_id"], "spend": 0.2}))
    second = api.ok(api.post("/spend/reserve",
                             {"token": token, "amount": 0.5, "request_id": "r-2"}))
    api.ok(api.post("/spend/release", {"reservation_id": second["reservation_id"]}))
    api.ok(api.post("/spend/track", {"token": token, "spend": 0.01, "request_id": "t-1"}))
    api.ok(api.call("PATCH", "/team/{team_id}", path_params={"team_id": team_id}, body={
        "team_alias": "patched", "max_budget": 11.0, "budget_duration": "1d"}))
    api.ok(api.post("/key/{key}/regenerate", {"grace_period": "1h"}, path_params={"key": token}))
    reply = api.get("/team/members", query={"team_id": team_id})
    assert reply.status < 500, reply
    # A key moved to another team: the team is checked in the key's transaction.
    other = api.new_team()["team_id"]
    moved = api.new_key(team_id=team_id)["key"]
    api.ok(api.post("/key/update", {"key": moved, "team_id": other}))
    api.ok(api.post("/key/regenerate", {"key": moved, "team_id": team_id}))


def _budget_reset(api: RecordingApi) -> None:
    """A run of the schedule's job 40 days on: a user's, a team's, a member's and a key's
    budgets due, spend on them, and a reservation whose lease has expired."""
    user_id = api.new_user(max_budget=5.0, budget_duration="1d")["user_id"]
    team_id = api.new_team(max_budget=10.0, budget_duration="1d", members_with_roles=[
        {"user_id": user_id, "role": "user"}])["team_id"]
    api.ok(api.post("/team/member_update", {"team_id": team_id, "user_id": user_id,
                                            "max_budget_in_team": 2.0, "budget_duration": "1d"}))
    token = api.new_key(user_id=user_id, team_id=team_id, max_budget=1.0,
                        budget_duration="1d")["key"]
    api.ok(api.post("/spend/track", {"token": token, "spend": 0.1}))
    api.ok(api.post("/spend/reserve", {"token": token, "amount": 0.1, "ttl_seconds": 60}))
    api.recorder.current = "BudgetResetFunction"
    try:
        report = budget_reset.run(now=utcnow() + timedelta(days=40))
    finally:
        api.recorder.current = None
    assert not report.errors, report


def _idempotency_keys(api: RecordingApi) -> None:
    """The routes built `idempotent=True` with an Idempotency-Key: answered (the record put,
    then its answer kept), replayed, and failed (the record deleted)."""
    team_id = api.new_team()["team_id"]
    user_id = api.new_user()["user_id"]
    for path, ok, failing in (
            ("/team/new", {"team_alias": "once"}, {"team_id": team_id}),
            ("/user/new", {"user_role": "internal_user"}, {"user_id": user_id}),
            ("/key/generate", {"team_id": team_id}, {"team_id": "missing"}),
            ("/team/bulk_member_add", {"team_id": team_id, "members": [{"user_id": "joiner"}]},
             {"team_id": "missing", "members": [{"user_id": "joiner"}]})):
        headers = {"idempotency-key": uuid.uuid4().hex}
        api.ok(api.post(path, ok, headers=headers))
        replay = api.post(path, ok, headers=headers)
        assert replay.status == 200 and replay.headers.get("Idempotent-Replayed") == "true"
        failed = api.post(path, failing, headers={"idempotency-key": uuid.uuid4().hex})
        assert 400 <= failed.status < 500, (path, failed)


def _available_teams(api: RecordingApi) -> None:
    """/team/available with teams configured (AVAILABLE_TEAMS), by the master and a user."""
    team_id = api.new_team()["team_id"]
    user_key = api.new_user()["key"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AVAILABLE_TEAMS", team_id)
        settings.cache_clear()
        try:
            for key in (MASTER_KEY, user_key):
                api.ok(api.get("/team/available", key=key))
        finally:
            settings.cache_clear()


def _team_audit(api: RecordingApi) -> None:
    """/audit?team_id= by a team admin (the caller's member item) and by the master key for a
    deleted team (its timeline's first record)."""
    admin = api.new_user()
    team_id = api.new_team(members_with_roles=[
        {"user_id": admin["user_id"], "role": "admin"}])["team_id"]
    api.ok(api.get("/audit", query={"team_id": team_id}, key=admin["key"]))
    api.ok(api.post("/team/delete", {"team_ids": [team_id]}))
    api.ok(api.get("/audit", query={"team_id": team_id}))


@contextmanager
def _own_table() -> Iterator[None]:
    """A table of its own (test_faults' scenarios use fixed ids)."""
    name = f"privilege-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb"), name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TABLE_NAME", name)
        settings.cache_clear()
        try:
            yield
        finally:
            settings.cache_clear()


def _fault_scenarios(api: RecordingApi) -> None:
    """Every scenario of the fault-injection suite, without faults: its richer bodies (emails,
    budgets with periods, a key's team change, members with keys) reach the writes' other
    items."""
    from test_faults import SCENARIOS

    for name, scenario in SCENARIOS.items():
        with _own_table():
            context = scenario.setup(api)
            key = context[scenario.caller] if scenario.caller else MASTER_KEY
            reply = api.call(scenario.method, scenario.path, key=key,
                             body=scenario.body | scenario.from_setup(context),
                             path_params=scenario.path_params)
            assert reply.status == 200, (name, reply)


@pytest.fixture(scope="module")
def recorder(api) -> ActionRecorder:
    recorder = ActionRecorder()
    dynamodb = client()
    recorder.attach(dynamodb)
    try:
        run(RecordingHandlers(recorder), recorder, MASTER_KEY)
        recording_api = RecordingApi(recorder)
        _per_call_flows(recording_api)
        _available_teams(recording_api)
        _team_audit(recording_api)
        _idempotency_keys(recording_api)
        _fault_scenarios(recording_api)
        with _own_table():
            _budget_reset(recording_api)
        _error_paths(recording_api)
    finally:
        recorder.detach(dynamodb)
    return recorder


@pytest.fixture(scope="module")
def recorded(recorder) -> dict[str, set[str]]:
    return recorder.actions


def test_each_function_is_granted_exactly_the_dynamodb_actions_it_calls(recorded):
    template = configured(load_template())
    resources = template["Resources"]
    routed = {route.function for route in routes(template)}
    problems = []
    for function in function_ids(template):
        if function in NOT_ROUTES:
            used = NOT_ROUTES[function]
        else:
            assert function in routed | {"BudgetResetFunction"}, f"{function}: not recorded"
            used = recorded.get(function, set()) | set(RARE.get(function, {}))
        granted = _granted(resources[function]["Properties"])
        if granted != used:
            problems.append(f"{function}: grants {sorted(granted - used)} it never calls, "
                            f"lacks {sorted(used - granted)}; calls {sorted(used)}")
    assert not problems, "\n".join(problems)


def test_an_action_granted_on_some_partitions_only_is_called_on_those(recorder):
    # Given the statements with a LeadingKeys condition (the Idempotency-Key records, say)
    resources = configured(load_template())["Resources"]
    problems = []
    for (function, action), partitions in recorder.partitions.items():
        patterns = _conditioned(resources[function]["Properties"])[action]
        if None in patterns:
            continue
        # Then each partition the function called the action on matches one of them
        problems += [f"{function}: {action} on {pk}" for pk in sorted(partitions)
                     if not any(fnmatch.fnmatchcase(pk, pattern) for pattern in patterns)]
    assert not problems, "\n".join(problems)


def test_every_route_was_exercised(recorded):
    """The recorder saw every route that calls DynamoDB (else the comparison proves nothing)."""
    template = load_template()
    quiet = {function for function, used in NOT_ROUTES.items() if not used}
    expected = {route.function for route in routes(template)} | {"BudgetResetFunction"}
    missing = expected - set(recorded) - quiet
    assert not missing, sorted(missing)
