"""The budget reset on fakes of the stores and a clock the test moves: what is due is reset once
per boundary, onto the budget's own grid, and audited as the job."""

import pytest
from teamledger.domain import budget_reset, teams
from teamledger.http.models import TeamNewRequest, TeamUpdateRequest
from teamledger.store.refs import TeamRef
from teamledger.timestamps import from_iso

from tests.unit.conftest import ADMIN, charge

T1 = TeamRef("t1")


def _resets(fake, object_id: str) -> list[dict]:
    return [r for r in fake.data.records(object_id) if r["changed_by"] == budget_reset.JOB]


@pytest.fixture
def monthly(fake) -> str:
    """Team t1, created Jan 31 12:00 with a monthly budget, 4 spent."""
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", max_budget=10, budget_duration="1mo"))
    charge(fake, T1, 4.0)
    return "t1"


def test_nothing_is_reset_before_its_boundary(fake, monthly, clock):
    report = budget_reset.run(now=clock.advance(days=27))  # Feb 27
    assert (report.reset, fake.data.spend(T1)) == (0, 4.0)


def test_a_due_budget_is_reset_onto_its_grid_and_audited(fake, monthly, clock):
    # When the job runs a day after the first boundary (Feb 28, clamped from Jan 31)
    report = budget_reset.run(now=from_iso("2026-03-01T00:00:00.000000Z"))
    # Then the team is reset; its grid counts from the anchor, the first reset (Feb 28)
    assert report.as_dict() == {"read": 1, "reset": 1, "skipped": 0, "stopped_early": False,
                                "leases": 0, "charged": 0, "errors": []}
    team = fake.data.teams["t1"]
    assert (fake.data.spend(T1), team["budget_reset_at"]) == (0.0, "2026-03-28T12:00:00.000000Z")
    assert fake.data.counters[T1]["used"] == 0  # used follows spend (nothing reserved)
    # And the reset is one record of the job, with what changed
    (record,) = _resets(fake, "t1")
    assert record["changed_by_api_key"] is None and record["action"] == "updated"
    assert record["before_value"] == {"spend": 4.0,
                                      "budget_reset_at": "2026-02-28T12:00:00.000000Z"}
    assert record["updated_values"] == {"spend": 0, "budget_reset_at": team["budget_reset_at"]}


def test_running_twice_resets_once_per_boundary(fake, monthly):
    moment = from_iso("2026-03-01T00:00:00.000000Z")
    budget_reset.run(now=moment)
    assert budget_reset.run(now=moment).reset == 0
    assert len(_resets(fake, "t1")) == 1


def test_missed_periods_land_on_the_next_future_boundary(fake, monthly):
    budget_reset.run(now=from_iso("2026-07-15T00:00:00.000000Z"))
    assert fake.data.teams["t1"]["budget_reset_at"] == "2026-07-28T12:00:00.000000Z"
    assert len(_resets(fake, "t1")) == 1


def test_a_reset_racing_another_run_skips_what_that_run_did(fake, monthly):
    # Given another run that resets t1 between this run's read and its commit
    def other_run() -> None:
        fake.data.teams["t1"]["budget_reset_at"] = "2026-03-28T12:00:00.000000Z"
        fake.data.counters[T1].update(spend=0, used=0)
    fake.before_commit.append(other_run)
    # When this run commits: its condition fails, it reads again, and finds nothing due
    report = budget_reset.run(now=from_iso("2026-03-01T00:00:00.000000Z"), workers=1)
    assert (report.reset, report.skipped, report.read) == (0, 1, 2)
    assert _resets(fake, "t1") == []


def test_a_reset_time_without_a_schedule_is_dropped_and_spend_kept(fake, monthly):
    # Given a team whose duration was removed directly (a reset time left behind)
    fake.data.teams["t1"].pop("budget_duration")
    budget_reset.run(now=from_iso("2026-03-01T00:00:00.000000Z"))
    assert "budget_reset_at" not in fake.data.teams["t1"]
    assert fake.data.spend(T1) == 4.0


def test_a_deleted_team_is_not_reset(fake, monthly):
    fake.data.teams["t1"]["status"] = "deleting"
    assert budget_reset.run(now=from_iso("2026-03-01T00:00:00.000000Z")).reset == 0
    assert fake.data.spend(T1) == 4.0


def test_a_run_stops_before_the_time_limit(fake, monthly):
    report = budget_reset.run(now=from_iso("2026-03-01T00:00:00.000000Z"),
                              remaining_ms=lambda: budget_reset.MARGIN_MS - 1)
    assert report.stopped_early and report.reset == 0


def test_a_changed_duration_resets_on_the_new_grid(fake, monthly, clock):
    # Given the schedule changed to daily on Feb 10 at 12:00
    clock.advance(days=10)
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", budget_duration="1d"))
    charge(fake, T1, 2.0)
    # When the job runs on Feb 12 at 13:00: the next boundary is Feb 13 at 12:00
    budget_reset.run(now=from_iso("2026-02-12T13:00:00.000000Z"))
    assert fake.data.teams["t1"]["budget_reset_at"] == "2026-02-13T12:00:00.000000Z"
    assert fake.data.spend(T1) == 0.0


def test_spend_that_lands_during_a_reset_ends_with_the_period(fake, monthly):
    # Given a call that adds 1 to t1 between this run's read of the counter and its commit
    fake.before_commit.append(lambda: charge(fake, T1, 1.0))
    # When the run commits: the counter's condition fails, and the retry reads it again
    report = budget_reset.run(now=from_iso("2026-03-01T00:00:00.000000Z"), workers=1)
    # Then t1 is reset once, and its record says what ended: the 4 and the 1 landed meanwhile
    assert (report.reset, report.skipped, fake.data.spend(T1)) == (1, 0, 0.0)
    (record,) = _resets(fake, "t1")
    assert record["before_value"]["spend"] == 5.0


def test_every_kind_of_budget_restarts_its_own_counter(fake, clock):
    # Given a key of alice in t1, each of the four budgets daily and each with spend
    from teamledger.domain import keys, members, users
    from teamledger.http.models import KeyGenerateRequest, MemberUpdateRequest, UserNewRequest
    from teamledger.store.refs import KeyRef, MemberRef, UserRef

    users.create_user(ADMIN, UserNewRequest(user_id="alice", budget_duration="1d"))
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", budget_duration="1d",
                                            members_with_roles=[{"user_id": "alice"}]))
    members.change_member(ADMIN, MemberUpdateRequest(team_id="t1", user_id="alice",
                                                     max_budget_in_team=9, budget_duration="1d"))
    token = keys.generate_key(ADMIN, KeyGenerateRequest(user_id="alice", team_id="t1",
                                                        budget_duration="1d")).token
    refs = [T1, MemberRef("t1", "alice"), UserRef("alice"), KeyRef(token)]
    for n, ref in enumerate(refs, 1):
        charge(fake, ref, n)
    # When the job runs after the boundary
    report = budget_reset.run(now=clock.advance(days=1, minutes=1))
    # Then each counter is back to 0 and each record names its own spend
    assert report.reset == 4 and [fake.data.spend(r) for r in refs] == [0.0] * 4
    ended = {r["object_id"]: r["before_value"]["spend"] for r in fake.data.audit
             if r["changed_by"] == budget_reset.JOB}
    assert ended == {"t1": 1.0, "t1:alice": 2.0, "alice": 3.0, token: 4.0}
