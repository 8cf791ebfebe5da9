"""Unit fixtures: the domain against in-memory fakes of the stores, on a clock the test sets.

The unit tests use the models as declared with pydantic (the compiled ones are the
integration tests', and tests/unit/test_compiled_models.py compares the two). Run in one
session with the other suites, they use what those chose (tests/conftest.py): compiled."""

import os

os.environ.setdefault("TEAMLEDGER_MODELS", "declared")  # before any import of the models

from datetime import UTC, datetime, timedelta  # noqa: E402

import pytest
from teamledger import store, timestamps
from teamledger.config import settings
from teamledger.domain.callers import Actor, Caller
from teamledger.money import units
from teamledger.store.counters import Outcome, Step, Writer
from teamledger.store.refs import Ref

from tests.unit.fakes import FakeStores

START = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


class Clock:
    """The time the domain reads (`timestamps.utcnow`), moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock():
    clock = Clock(START)
    timestamps.use_clock(clock)
    yield clock
    timestamps.use_clock(None)


@pytest.fixture
def fake(monkeypatch, clock) -> FakeStores:
    """The fakes installed as the domain's stores; settings without a table of their own."""
    monkeypatch.setenv("TABLE_NAME", "unit")
    monkeypatch.setenv("AVAILABLE_TEAMS", "open-team")
    settings.cache_clear()
    fakes = FakeStores()
    previous = store.use(fakes)
    yield fakes
    store.use(previous)
    settings.cache_clear()


def actor(user_id: str | None = "default_user_id", role: str | None = "proxy_admin",
          team_id: str | None = None) -> Actor:
    return Actor(Caller(token=f"token-of-{user_id}", user_id=user_id, role=role,
                        team_id=team_id), user_id)


ADMIN = actor()
VIEWER = actor("viewer", "proxy_admin_viewer")


def charge(fake: FakeStores, ref: Ref, usd: float) -> None:
    """`usd` more spend on the entity's counter: one step of this thread's writer, as a call
    would take it (the counter made on first use)."""
    writer = Writer.current()
    result = fake.counters.step(Step(ref, writer.id, writer.take(1), spend=units(usd)))
    assert result.outcome is Outcome.APPLIED, result


@pytest.fixture
def team(fake) -> str:
    """A team `t1`, made by the master key."""
    from teamledger.domain import teams
    from teamledger.http.models import TeamNewRequest

    teams.create_team(ADMIN, TeamNewRequest(team_id="t1"))
    return "t1"


def add_members(team_id: str, *member: dict, caller: Actor | None = None, **fields):
    """`/team/member_add` of one member, or of several as a list, by `caller` (the master
    key)."""
    from teamledger.domain import members
    from teamledger.http.models import MemberAddRequest

    body = list(member) if len(member) > 1 else member[0]
    return members.add_members(caller or ADMIN,
                               MemberAddRequest(team_id=team_id, member=body, **fields))
