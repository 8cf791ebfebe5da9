"""Spend tracking on fakes of the stores: every scope of a key counts each report once, on its
counter, and an owner that is gone (a team being deleted) is left out instead of failing the
report."""

import pytest
from teamledger.domain import spend, teams
from teamledger.domain.keys import create_key, new_key
from teamledger.errors import BadRequest, Busy, Forbidden, NotFound
from teamledger.http.models import SpendTrackRequest, TeamDeleteRequest, TeamNewRequest
from teamledger.store.counters import Step
from teamledger.store.refs import KeyRef, MemberRef, TeamRef, UserRef

from tests.unit.conftest import ADMIN, actor


@pytest.fixture
def token(fake) -> str:
    """alice's key in team t1 (budget 1), alice with a membership budget of 0.5."""
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", max_budget=1,
                                            members_with_roles=[{"user_id": "alice"}]))
    fake.data.members[("t1", "alice")]["max_budget"] = 0.5
    tx = fake.transaction()
    _, key = new_key(user_id="alice", team_id="t1", user_role="internal_user", now="x")
    create_key(tx, ADMIN, key)
    tx.commit()
    return str(key["token"])


def _refs(token: str) -> list:
    return [KeyRef(token), UserRef("alice"), MemberRef("t1", "alice"), TeamRef("t1")]


def _track(token: str, amount: float, request_id: str | None = None):
    return spend.track_spend(ADMIN, SpendTrackRequest(token=token, spend=amount,
                                                      request_id=request_id))


def test_a_report_counts_once_in_every_scope(fake, token):
    # When 0.1 is reported six times
    for _ in range(6):
        answer = _track(token, 0.1)
    # Then the key, alice, the team and her membership each have spent 0.6, exactly
    assert {name: getattr(answer, name).spend for name in
            ("key", "user", "team", "team_membership")} == dict.fromkeys(
        ("key", "user", "team", "team_membership"), 0.6)
    # And only the membership (0.5) is over its budget
    assert answer.team_membership.budget_exceeded and not answer.team.budget_exceeded
    # And the counters hold it, in units; the entity items hold no spend
    assert [fake.data.counters[r]["spend"] for r in _refs(token)] == [6 * 10**9] * 4
    assert "spend" not in fake.data.keys[token] and "spend" not in fake.data.teams["t1"]
    # And spend writes no audit record: it is a counter, not a change of configuration
    assert [r["action"] for r in fake.data.records(token)] == ["created"]
    assert not [r for r in fake.data.audit if r["action"] == "updated"]


def test_a_team_being_deleted_takes_no_more_spend(fake, token):
    # Given t1 marked for deletion before its counter was made
    fake.data.teams["t1"]["status"] = "deleting"
    # When spend is reported
    answer = _track(token, 0.25)
    # Then the key and the user count it, and the team is left out: no counter is made for it
    assert (answer.key.spend, answer.user.spend) == (0.25, 0.25)
    assert answer.team is None
    assert TeamRef("t1") not in fake.data.counters


def test_a_deleted_team_s_key_is_gone(fake, token):
    _track(token, 0.25)
    teams.delete_teams(ADMIN, TeamDeleteRequest(team_ids=["t1"]))
    with pytest.raises(NotFound):
        _track(token, 0.25)
    # The counters went with their entities; alice's own stays
    assert set(fake.data.counters) == {UserRef("alice")}


def test_an_unknown_key_is_404_and_a_bad_amount_400(fake, token):
    with pytest.raises(NotFound):
        _track("0" * 64, 1)
    for amount in (0.0, -1.0, float("nan"), 1e16):
        with pytest.raises(BadRequest):
            _track(token, amount)
    assert KeyRef(token) not in fake.data.counters


def test_only_admins_report_spend(fake, token):
    with pytest.raises(Forbidden):
        spend.track_spend(actor("alice", "internal_user"),
                          SpendTrackRequest(token=token, spend=1))


def test_a_retried_report_counts_once(fake, token):
    # Given a report of 0.25 with a request id
    _track(token, 0.25, request_id="call-1")
    # When it is sent again (its answer was lost), and another report follows
    again = _track(token, 0.25, request_id="call-1")
    # Then the retry added nothing and answers the totals as they are
    assert (again.key.spend, again.team.spend, again.team_membership.spend) == (0.25,) * 3
    assert _track(token, 0.25, request_id="call-2").key.spend == 0.5
    assert [fake.data.spend(r) for r in _refs(token)] == [0.5] * 4
    assert len(fake.data.notes) == 2


def test_a_retry_after_a_lost_answer_takes_only_the_missing_steps(fake, token):
    # Given a report whose third step applies but whose answer is lost (Busy)
    def lost_answer(step: Step) -> None:
        if step.ref != MemberRef("t1", "alice"):
            fake.before_step.append(lost_answer)  # not yet: wait for the third step
            return
        fake.counters.step(step)
        raise Busy("no answer")
    fake.before_step.append(lost_answer)
    with pytest.raises(Busy):
        _track(token, 0.25, request_id="call-1")
    assert [fake.data.spend(r) for r in _refs(token)] == [0.25, 0.25, 0.25, 0.0]
    # When the gateway sends the report again
    again = _track(token, 0.25, request_id="call-1")
    # Then every scope counted it exactly once: the note's steps decided what was missing
    assert [fake.data.spend(r) for r in _refs(token)] == [0.25] * 4
    assert (again.key.spend, again.team_membership.spend, again.team.spend) == (0.25,) * 3


def test_the_same_note_taken_twice_counts_once(fake, token):
    # A note's steps sent again (a resend of every step: each one is ALREADY)
    from teamledger.store.counters import Writer

    scopes = spend.scopes_of(fake.keys.get(token))
    writer = Writer.current()
    note = {"writer": writer.id, "seq": writer.take(4), "spend": 10**9, "scopes": list(scopes)}
    first = spend.add_spend(scopes, note)
    again = spend.add_spend(scopes, note)
    assert again == first and [fake.data.spend(r) for r in _refs(token)] == [0.1] * 4


def test_a_budget_is_exceeded_from_the_counter_s_copy(fake, token):
    # alice's membership budget (0.5) was copied onto her counter from its item on first use
    answer = _track(token, 0.5)
    assert fake.data.counters[MemberRef("t1", "alice")]["max_budget"] == 5 * 10**9
    assert answer.team_membership.budget_exceeded and answer.team_membership.max_budget == 0.5
    assert not answer.team.budget_exceeded and answer.key.max_budget is None
