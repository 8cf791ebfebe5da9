"""The per-call path on fakes of the stores: /spend/reserve holds an amount on every budget
scope of a key or on none, /spend/settle and /spend/release move it once, and the schedule
charges leases that ran out; every counter step is applied at most once."""

from datetime import timedelta

import pytest
from teamledger.domain import budget_reset, members, reservations, teams, users
from teamledger.domain.callers import Actor, Caller
from teamledger.domain.keys import generate_key
from teamledger.errors import Busy, Conflict, Forbidden, NotFound, OverBudget, Unauthorized
from teamledger.http.models import (
    KeyGenerateRequest,
    MemberUpdateRequest,
    SpendReleaseRequest,
    SpendReserveRequest,
    SpendSettleRequest,
    TeamNewRequest,
    UserNewRequest,
)
from teamledger.money import units
from teamledger.store.counters import Outcome, Step, Writer
from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef

from tests.unit.conftest import ADMIN, START, actor

GATEWAY = Actor(Caller(token="gateway", user_id=None, role=None, route="/spend/reserve",
                       allowed_routes=("/spend/*",)), None)


def _key(user_id: str, team_id: str, **fields) -> str:
    return str(generate_key(ADMIN, KeyGenerateRequest(user_id=user_id, team_id=team_id,
                                                      **fields)).token)


@pytest.fixture
def token(fake) -> str:
    """alice's key in team t1, whose budget is 5.00 (the only budget of the four scopes)."""
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", max_budget=5.0, models=["gpt-4o"],
                                            tpm_limit=1000,
                                            members_with_roles=[{"user_id": "alice"}]))
    return _key("alice", "t1")


def _refs(token: str, user_id: str = "alice", team_id: str = "t1") -> dict[str, Ref]:
    return {"key": KeyRef(token), "user": UserRef(user_id),
            "team_membership": MemberRef(team_id, user_id), "team": TeamRef(team_id)}


def _reserve(token: str, amount: float = 0.1, caller: Actor = GATEWAY, **fields):
    return reservations.reserve(caller, SpendReserveRequest(token=token, amount=amount,
                                                            **fields))


def _settle(rid: str, spend: float):
    return reservations.settle(GATEWAY, SpendSettleRequest(reservation_id=rid, spend=spend))


def _release(rid: str):
    return reservations.release(GATEWAY, SpendReleaseRequest(reservation_id=rid))


def _held(fake, token: str, **names) -> dict[str, tuple[float, float]]:
    """(spend, reserved) of each scope's counter, in USD."""
    return {n: (fake.data.spend(r), fake.data.reserved(r))
            for n, r in _refs(token, **names).items()}


def _run_schedule(now):
    return budget_reset.run(now=now, workers=1)


# --- reserve ---------------------------------------------------------------------------------

def test_a_reservation_answers_what_the_gateway_needs(fake, token):
    reply = _reserve(token, amount=0.25, model="gpt-4o")
    assert (reply.state, reply.user_id, reply.team_id) == ("held", "alice", "t1")
    assert (reply.models, reply.tpm_limit) == (["gpt-4o"], 1000)  # the team's, via its gate
    assert reply.expires_at == "2026-01-31T12:10:00.000000Z"  # 600 s by default
    assert set(reply.scopes) == {"key", "user", "team_membership", "team"}
    team = reply.scopes["team"]
    assert (team.spend, team.reserved, team.max_budget, team.remaining) == (0.0, 0.25, 5.0, 4.75)
    assert reply.scopes["key"].max_budget is None and reply.scopes["key"].reserved == 0.25
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.0, 0.25))


def test_a_budget_admits_exactly_the_reservations_it_holds(fake, token):
    # Given a team budget of 5.00: fifty reservations of 0.10 fit
    held = [_reserve(token, 0.1) for _ in range(50)]
    assert fake.data.counters[TeamRef("t1")]["reserved"] == 5 * 10**10  # exact, in units
    # When the 51st is asked for: 429, naming the team and what is left of it
    with pytest.raises(OverBudget) as refused:
        _reserve(token, 0.1)
    assert refused.value.status == 429
    assert refused.value.fields == {"type": "budget_exceeded", "scope": "team", "remaining": 0.0}
    # And it held nothing anywhere, and wrote no reservation
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.0, 5.0))
    assert len(fake.data.reservations) == 50
    # When each is settled below what it held: the difference is free again
    for reply in held:
        _settle(reply.reservation_id, 0.07)
    assert fake.data.counters[TeamRef("t1")]["spend"] == 35 * 10**9
    assert _held(fake, token)["team"] == (3.5, 0.0)
    assert _reserve(token, 1.5).scopes["team"].remaining == 0.0


def _budgeted(fake, scope: str, budget: float = 1.0) -> str:
    """bob's key in t2, with a budget of `budget` on `scope` only; bob's token."""
    users.create_user(ADMIN, UserNewRequest(user_id="bob",
                                            max_budget=budget if scope == "user" else None))
    teams.create_team(ADMIN, TeamNewRequest(team_id="t2",
                                            max_budget=budget if scope == "team" else None,
                                            members_with_roles=[{"user_id": "bob"}]))
    if scope == "team_membership":
        members.change_member(ADMIN, MemberUpdateRequest(team_id="t2", user_id="bob",
                                                         max_budget_in_team=budget))
    return _key("bob", "t2", max_budget=budget if scope == "key" else None)


SCOPES = ["key", "user", "team_membership", "team"]


@pytest.mark.parametrize("scope", SCOPES)
def test_every_scope_s_budget_binds_and_is_named(fake, scope):
    token = _budgeted(fake, scope)
    for _ in range(3):
        _reserve(token, 0.3)
    with pytest.raises(OverBudget) as refused:
        _reserve(token, 0.3)
    assert (refused.value.fields["scope"], refused.value.fields["remaining"]) == (scope, 0.1)
    assert set(_held(fake, token, user_id="bob", team_id="t2").values()) == {(0.0, 0.9)}


@pytest.mark.parametrize("scope", SCOPES)
def test_a_refused_step_undoes_the_steps_already_taken(fake, scope):
    # Given a budget of 1 on one scope, whose counter is not made yet (so the read before the
    # steps cannot see it: the counter's own condition refuses, at its step)
    token = _budgeted(fake, scope)
    fake.data.counters.clear()  # the membership's: made with its budget by /team/member_update
    # When 1.2 is reserved: refused, naming the scope
    with pytest.raises(OverBudget) as refused:
        _reserve(token, 1.2)
    assert (refused.value.fields["scope"], refused.value.fields["remaining"]) == (scope, 1.0)
    # Then no scope holds anything: the steps taken before the refusal were undone
    counters = [fake.data.counters.get(r) for r in _refs(token, "bob", "t2").values()]
    assert [(c["reserved"], c["used"]) for c in counters if c is not None] == \
        [(0, 0)] * len([c for c in counters if c is not None])
    (refusal,) = fake.data.reservations.values()
    assert refusal["state"] == "refused" and refusal["refusal"]["scope"] == scope
    # And what fits still fits, whole
    _reserve(token, 1.0)
    assert set(_held(fake, token, user_id="bob", team_id="t2").values()) == {(0.0, 1.0)}


def test_a_hold_that_lands_first_refuses_and_the_steps_taken_are_undone(fake, token):
    # Given alice's membership budget of 3, and both budgeted counters made
    members.change_member(ADMIN, MemberUpdateRequest(team_id="t1", user_id="alice",
                                                     max_budget_in_team=3))
    _reserve(token, 0)
    # And another call that holds 4.95 of the team just before this call's team step
    def other_call(step: Step) -> None:
        if step.ref != TeamRef("t1"):
            fake.before_step.append(other_call)
            return
        assert fake.counters.step(Step(TeamRef("t1"), "other", 1, reserved=units(4.95),
                                       limit=True)).outcome is Outcome.APPLIED
    fake.before_step.append(other_call)
    # When 0.1 is reserved: its read saw room, its membership step applied, its team step not
    with pytest.raises(OverBudget) as refused:
        _reserve(token, 0.1)
    assert refused.value.fields == {"type": "budget_exceeded", "scope": "team",
                                    "remaining": pytest.approx(0.05)}
    # Then the membership's hold was undone, and the other call's stays
    assert _held(fake, token) == {"key": (0.0, 0.0), "user": (0.0, 0.0),
                                  "team_membership": (0.0, 0.0), "team": (0.0, 4.95)}


def test_a_retry_with_the_same_request_id_answers_the_same_reservation(fake, token):
    first = _reserve(token, 0.4, request_id="call-7")
    again = _reserve(token, 0.4, request_id="call-7")
    assert again.reservation_id == first.reservation_id and again.state == "held"
    assert again.scopes["team"].reserved == 0.4
    assert len(fake.data.reservations) == 1
    # Another request id is another reservation
    assert _reserve(token, 0.4, request_id="call-8").reservation_id != first.reservation_id
    assert _held(fake, token)["team"] == (0.0, 0.8)


def test_a_retry_after_a_reserve_failed_midway_takes_only_the_missing_steps(fake, token):
    # Given a reserve whose second step gets no answer (it applied, but nobody knows)
    def lost(step: Step) -> None:
        if step.ref != UserRef("alice"):
            fake.before_step.append(lost)
            return
        fake.counters.step(step)
        raise Busy("no answer")
    fake.before_step.append(lost)
    with pytest.raises(Busy):
        _reserve(token, 0.4, request_id="call-9")
    assert [r for _, r in _held(fake, token).values()] == [0.4, 0.4, 0.0, 0.0]
    # When the gateway retries it: the reservation's own steps, each applied once
    again = _reserve(token, 0.4, request_id="call-9")
    assert again.state == "held"
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.0, 0.4))


def test_the_end_user_s_key_and_team_are_checked(fake, token):
    for case in ("unknown", "blocked", "team_blocked", "team_deleting"):
        value = "0" * 64 if case == "unknown" else token
        if case == "blocked":
            fake.data.keys[token]["blocked"] = True
        elif case == "team_blocked":
            fake.data.keys[token]["blocked"] = False
            fake.data.teams["t1"]["blocked"] = True
        elif case == "team_deleting":
            fake.data.teams["t1"].update(blocked=False, status="deleting")
        with pytest.raises(Unauthorized) as refused:
            _reserve(value)
        assert refused.value.fields == {"type": "invalid_user_key"}, case
    assert fake.data.reservations == {} and fake.data.counters == {}


def test_a_model_outside_the_team_s_is_403_and_only_gateways_reserve(fake, token):
    with pytest.raises(Forbidden) as refused:
        _reserve(token, model="claude-3")
    assert refused.value.fields == {"type": "model_not_allowed"}
    with pytest.raises(Forbidden):
        _reserve(token, caller=actor("alice", "internal_user"))
    assert _reserve(token, caller=ADMIN).state == "held"


# --- settle, release -------------------------------------------------------------------------

def test_settle_twice_counts_once_and_release_after_settle_changes_nothing(fake, token):
    rid = _reserve(token, 0.5).reservation_id
    first = _settle(rid, 0.123)
    assert first.state == "settled"
    team = first.scopes["team"]
    assert (team.spend, team.reserved, team.max_budget, team.remaining) == (
        0.123, 0.0, 5.0, 4.877)
    # Settle again (a retry, even with another amount): the first settle's answer, once
    again = _settle(rid, 0.2)
    assert again.scopes == first.scopes
    released = _release(rid)
    assert (released.state, released.scopes) == ("settled", first.scopes)
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.123, 0.0))
    # And the admin routes read the same spend from the counters
    info = teams.team_info(ADMIN, "t1")
    assert info.team_info.spend == 0.123 and [k.spend for k in info.keys] == [0.123]


def test_settle_after_release_is_a_conflict(fake, token):
    rid = _reserve(token, 1.0).reservation_id
    reply = _release(rid)
    assert reply.state == "released" and reply.scopes["team"].reserved == 0.0
    assert _release(rid).state == "released"
    with pytest.raises(Conflict) as refused:
        _settle(rid, 1.0)
    assert refused.value.status == 409
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.0, 0.0))


def test_an_unknown_reservation_is_404(fake, token):
    with pytest.raises(NotFound):
        _settle("nope", 1)
    with pytest.raises(NotFound):
        _release("nope")


def _busy_at(fake, ref) -> None:
    """The next step on `ref` fails Busy (throttled); the steps before it apply."""
    def busy(step: Step) -> None:
        if step.ref != ref:
            fake.before_step.append(busy)
            return
        raise Busy("throttled")
    fake.before_step.append(busy)


def test_a_settle_left_halfway_is_finished_by_its_retry(fake, token):
    # Given a settle whose team step fails (Busy) after the other scopes' steps applied
    rid = _reserve(token, 0.5).reservation_id

    _busy_at(fake, TeamRef("t1"))
    with pytest.raises(Busy):
        _settle(rid, 0.2)
    assert _held(fake, token)["key"] == (0.2, 0.0) and _held(fake, token)["team"] == (0.0, 0.5)
    # When it is sent again: the recorded steps are finished, none taken twice
    assert _settle(rid, 0.2).state == "settled"
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.2, 0.0))


# --- leases ----------------------------------------------------------------------------------

def test_a_lease_that_runs_out_is_charged_once_and_a_late_settle_corrects_it(fake, token):
    rid = _reserve(token, 0.5, ttl_seconds=60).reservation_id
    kept = _reserve(token, 0.1, ttl_seconds=3600).reservation_id
    # When the schedule runs after the lease ended
    report = _run_schedule(START + timedelta(minutes=2))
    assert (report.leases, report.charged, report.errors) == (1, 1, [])
    assert fake.data.reservations[rid]["state"] == "expired"
    assert fake.data.reservations[kept]["state"] == "held"  # its lease runs on
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.5, 0.1))
    # Then charged once, however often the schedule runs over it
    assert _run_schedule(START + timedelta(minutes=2)).charged == 0
    _run_schedule(START + timedelta(minutes=3))
    assert _held(fake, token)["team"] == (0.5, 0.1)
    # And a late settle replaces the charge by the actual spend, once
    assert _settle(rid, 0.2).scopes["team"].spend == pytest.approx(0.2)
    _settle(rid, 0.2)
    assert fake.data.counters[TeamRef("t1")]["spend"] == 2 * 10**9
    assert {s for s, _ in _held(fake, token).values()} == {0.2}


def test_an_expired_lease_charges_only_what_its_reserve_held(fake, token):
    # Given a reserve that failed after its key step (its writer retired), never retried
    _busy_at(fake, UserRef("alice"))
    with pytest.raises(Busy):
        _reserve(token, 0.5, ttl_seconds=60)
    # And a later call of the same thread on every scope (a fresh writer: the old one's marks
    # stay exactly the failed reserve's steps)
    _reserve(token, 0.1, ttl_seconds=3600)
    # When its lease runs out: the key, the one scope that held it, is charged
    assert _run_schedule(START + timedelta(minutes=2)).charged == 1
    assert _held(fake, token) == {"key": (0.5, 0.1), "user": (0.0, 0.1),
                                  "team_membership": (0.0, 0.1), "team": (0.0, 0.1)}


def test_the_schedule_finishes_a_move_left_halfway(fake, token):
    # Given a release whose team step failed, and nobody retried it
    rid = _reserve(token, 0.5, ttl_seconds=60).reservation_id

    _busy_at(fake, TeamRef("t1"))
    with pytest.raises(Busy):
        _release(rid)
    assert _held(fake, token)["team"] == (0.0, 0.5)
    # When the schedule reads its lease: the release is finished, and nothing is charged
    assert _run_schedule(START + timedelta(minutes=2)).charged == 0
    assert _held(fake, token) == dict.fromkeys(_refs(token), (0.0, 0.0))


def test_a_budget_reset_keeps_what_is_reserved(fake, clock):
    # Given a daily team budget of 1, with 0.3 spent and 0.4 held by a call in flight
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", max_budget=1.0, budget_duration="1d",
                                            members_with_roles=[{"user_id": "alice"}]))
    token = _key("alice", "t1")
    _settle(_reserve(token, 0.3).reservation_id, 0.3)
    clock.advance(hours=23, minutes=50)
    _reserve(token, 0.4, ttl_seconds=3600)
    # When the budget resets at its boundary
    report = _run_schedule(START + timedelta(days=1, minutes=1))
    assert (report.reset, report.charged) == (1, 0)
    # Then the spend ended, and the hold is still held: 0.6 is left
    team = _reserve(token, 0).scopes["team"]
    assert (team.spend, team.reserved, team.remaining) == (0.0, 0.4, 0.6)
    (record,) = [r for r in fake.data.records("t1") if r["changed_by"] == budget_reset.JOB]
    assert record["before_value"]["spend"] == 0.3


# --- the counter's promise -------------------------------------------------------------------

def test_a_step_sent_again_after_it_applied_counts_once(fake, token):
    writer = Writer.current()
    step = Step(TeamRef("t1"), writer.id, writer.take(1), reserved=units(0.1), limit=True)
    first = fake.counters.step(step)
    again = fake.counters.step(step)  # a resend: its answer was lost
    assert (first.outcome, again.outcome) == (Outcome.APPLIED, Outcome.ALREADY)
    assert again.counter == first.counter and first.counter["reserved"] == 10**9
    assert fake.data.counters[TeamRef("t1")]["w"] == {writer.id: step.seq}
    # A later step of the writer applies; an earlier one is behind its mark (it cannot apply
    # after a later one did)
    later = Step(TeamRef("t1"), writer.id, step.seq + 5, spend=units(0.1))
    assert fake.counters.step(later).outcome is Outcome.APPLIED
    earlier = Step(TeamRef("t1"), writer.id, step.seq + 1, spend=units(0.1))
    assert fake.counters.step(earlier).outcome is Outcome.ALREADY
    # Another writer's step with the same number is its own
    assert fake.counters.step(Step(TeamRef("t1"), "other", step.seq, spend=units(0.1))
                              ).outcome is Outcome.APPLIED
    assert (fake.data.spend(TeamRef("t1")), fake.data.reserved(TeamRef("t1"))) == (0.2, 0.1)


def test_a_limit_step_is_refused_past_the_budget_and_leaves_no_mark(fake, token):
    ref = TeamRef("t1")  # budget 5
    refused = fake.counters.step(Step(ref, "w1", 1, reserved=units(5.01), limit=True))
    assert refused.outcome is Outcome.REFUSED and refused.counter["used"] == 0
    assert fake.data.counters[ref]["w"] == {}  # a refusal leaves no mark
    # An exact fit applies, and then not one unit more
    fit = fake.counters.step(Step(ref, "w1", 2, reserved=units(5.0), limit=True))
    assert fit.outcome is Outcome.APPLIED and fit.counter["used"] == fit.counter["max_budget"]
    assert fake.counters.step(Step(ref, "w2", 1, reserved=1, limit=True)
                              ).outcome is Outcome.REFUSED
    # Without `limit` a step applies whatever the budget (a settle's spend may pass it)
    assert fake.counters.step(Step(ref, "w2", 2, spend=units(0.5))).outcome is Outcome.APPLIED
    assert fake.data.counters[ref]["used"] == units(5.5)


def test_a_step_on_what_does_not_exist_is_gone(fake, token):
    assert fake.counters.step(Step(TeamRef("nope"), "w", 1, spend=1)).outcome is Outcome.GONE
    assert fake.counters.step(Step(KeyRef("0" * 64), "w", 1, spend=1)).outcome is Outcome.GONE
    fake.data.teams["t1"]["status"] = "deleting"  # a team being deleted gets no new counter
    assert fake.counters.step(Step(TeamRef("t1"), "w", 1, spend=1)).outcome is Outcome.GONE
    assert TeamRef("t1") not in fake.data.counters
