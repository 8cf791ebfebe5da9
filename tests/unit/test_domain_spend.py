"""Spend tracking on fakes of the stores: every scope of a key counts each report once, and an
owner that is gone (a team being deleted) is left out instead of failing the report."""

import pytest
from teamledger.domain import spend, teams
from teamledger.domain.keys import create_key, new_key
from teamledger.errors import BadRequest, Forbidden, NotFound
from teamledger.http.models import SpendTrackRequest, TeamNewRequest

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
    # And spend writes no audit record: it is a counter, not a change of configuration
    assert [r["action"] for r in fake.data.records(token)] == ["created"]
    assert not [r for r in fake.data.audit if r["action"] == "updated"]


def test_a_team_being_deleted_takes_no_more_spend(fake, token):
    # Given t1 marked for deletion after the key was read
    fake.before_commit.append(lambda: fake.data.teams["t1"].update(status="deleting"))
    # When spend is reported
    answer = _track(token, 0.25)
    # Then the key and the user count it, and the team and the membership are left out
    assert (answer.key.spend, answer.user.spend) == (0.25, 0.25)
    assert answer.team is None and answer.team_membership is None
    assert fake.data.teams["t1"]["spend"] == 0.0


def test_an_unknown_key_is_404_and_a_bad_amount_400(fake, token):
    with pytest.raises(NotFound):
        _track("0" * 64, 1)
    for amount in (0.0, -1.0, float("nan"), 1e16):
        with pytest.raises(BadRequest):
            _track(token, amount)
    assert fake.data.keys[token]["spend"] == 0.0


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
