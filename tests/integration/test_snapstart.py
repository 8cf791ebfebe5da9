"""SnapStart (template.yaml's EnableSnapStart): a function registers its hooks only in an init
Lambda snapshots; before the snapshot it warms what its first request would build; after each
restore it reseeds `random` and drops the DynamoDB client's pooled connections."""

import random
import sys
import types

import pytest
from teamledger.http import compiled, models
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.store import client as aws

# Imported here, in an ordinary init: its module's own lambda_entry registers no hook.
from functions.team_info.app import app as team_info_app


class Hooks:
    """The Lambda runtime's snapshot_restore_py, recording what is registered."""

    def __init__(self) -> None:
        self.before: list = []
        self.after: list = []
        self.module = types.ModuleType("snapshot_restore_py")
        self.module.register_before_snapshot = self.before.append
        self.module.register_after_restore = self.after.append


@pytest.fixture
def hooks(monkeypatch):
    recorded = Hooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", recorded.module)
    return recorded


def _app() -> ServiceApp:
    """A route function's app (its models compiled, as a built layer has them), its routes'
    validators not built yet."""
    for route in team_info_app.routes:
        route._fields = None
    return team_info_app


def _pooled_connections() -> int:
    return len(aws.client()._endpoint.http_session._manager.pools)


def test_an_init_lambda_does_not_snapshot_registers_nothing(hooks, monkeypatch):
    # Given an ordinary init (no SnapStart)
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    # When a function is made
    lambda_entry(_app())
    # Then no hook is registered
    assert hooks.before == [] and hooks.after == []


def test_before_the_snapshot_a_function_builds_its_validators_and_client(
        hooks, monkeypatch, moto_endpoint):
    # Given an init that Lambda snapshots
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    app = _app()
    lambda_entry(app)
    assert len(hooks.before) == 1 and len(hooks.after) == 1
    aws.client.cache_clear()
    # When the snapshot is about to be taken
    hooks.before[0]()
    # Then the route's validators, its models' and the DynamoDB client exist already
    assert app.routes[0]._fields is not None
    assert compiled.active() and "_validator" in models.TeamInfo.__dict__
    assert aws.client.cache_info().currsize == 1


def test_after_a_restore_random_is_reseeded_and_connections_are_dropped(
        hooks, monkeypatch, moto_endpoint):
    # Given a snapshotted function whose client holds a pooled connection, and `random` in
    # the state every restored copy would share
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    lambda_entry(_app())
    aws.client().list_tables()
    assert _pooled_connections() == 1
    random.seed(1234)
    shared_draw = random.Random(1234).random()
    # When the environment is restored
    hooks.after[0]()
    # Then it draws its own numbers, and holds no connection of the snapshot
    assert random.random() != shared_draw
    assert _pooled_connections() == 0
    # And the client still works, on a new connection
    assert "TableNames" in aws.client().list_tables()
    assert _pooled_connections() == 1
