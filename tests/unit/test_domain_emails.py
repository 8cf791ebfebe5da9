"""One email, one user, on fakes of the stores: the email's item written with its user, the
races it decides (a lost race re-reads and adds the winner; a taken email is a 400), and the
rules of naming a member by id and email (issue 13)."""

import pytest
from teamledger.domain import directory, members, teams, users
from teamledger.errors import BadRequest
from teamledger.http.models import (
    BulkMemberAddRequest,
    TeamNewRequest,
    UserNewRequest,
)

from tests.unit.conftest import ADMIN, actor, add_members


def _row(fake, user_id: str, email: str | None = None) -> None:
    """A stored user row (without its email's item: as stored before items existed)."""
    fake.data.users[user_id] = {"entity": "user", **{
        k: v for k, v in directory.user_values(user_id, user_email=email,
                                              now="2026-01-01T00:00:00.000000Z").items()
        if v is not None and k != "spend"}}


def _claim(fake, user_id: str, email: str) -> None:
    """Another request's user with this email, committed meanwhile (its row and its item)."""
    _row(fake, user_id, email)
    fake.data.emails[email.lower()] = user_id


def test_a_new_user_with_an_email_writes_its_item_and_one_record(fake, team):
    added = add_members(team, {"user_email": "Ann@Example.com"})
    user_id = added.updated_users[0].user_id
    assert fake.data.emails == {"ann@example.com": user_id}
    assert [r["action"] for r in fake.data.records(user_id)] == ["created"]


def test_an_add_that_lost_the_race_for_a_new_email_adds_the_winner(fake, team):
    # Given another request that makes the user with this email after this one looked it up
    fake.before_commit.append(lambda: _claim(fake, "winner", "ann@example.com"))
    # When ann is added by email: the email's item refuses, the retry finds the winner
    added = add_members(team, {"user_email": "Ann@Example.com"})
    # Then the member is the winner, and no second user exists
    assert [u.user_id for u in added.updated_users] == ["winner"]
    assert [u for u, i in fake.data.users.items() if i.get("user_email")] == ["winner"]
    assert ("t1", "winner") in fake.data.members


def test_a_new_user_id_that_lost_the_race_for_its_email_is_400(fake, team):
    fake.before_commit.append(lambda: _claim(fake, "winner", "ann@example.com"))
    with pytest.raises(BadRequest, match="belongs to another user"):
        add_members(team, {"user_id": "junk", "user_email": "ann@example.com"})
    assert "junk" not in fake.data.users and ("t1", "junk") not in fake.data.members


def test_user_new_refuses_a_taken_email_before_and_at_the_commit(fake):
    users.create_user(ADMIN, UserNewRequest(user_id="ann", user_email="ann@example.com"))
    with pytest.raises(BadRequest, match="belongs to another user"):
        users.create_user(ADMIN, UserNewRequest(user_id="bob", user_email="ANN@example.com"))
    # And when the email is taken between the look-up and the commit
    fake.before_commit.append(lambda: _claim(fake, "carol", "dan@example.com"))
    with pytest.raises(BadRequest, match="belongs to another user"):
        users.create_user(ADMIN, UserNewRequest(user_id="dan", user_email="dan@example.com"))
    assert set(fake.data.users) == {"ann", "carol"}


def test_an_existing_user_is_named_with_their_own_email_or_none(fake, team):
    _claim(fake, "ann", "Ann@Example.com")
    _row(fake, "bob")
    for member in ({"user_id": "ann", "user_email": "other@example.com"},
                   {"user_id": "bob", "user_email": "bob@example.com"},
                   {"user_id": "bob", "user_email": "ann@example.com"}):
        with pytest.raises(BadRequest):
            add_members(team, member)
    added = add_members(team, {"user_id": "ann", "user_email": "ANN@example.com"},
                        {"user_id": "bob"})
    assert [m.user_email for m in added.members_with_roles[1:]] == ["Ann@Example.com", None]


def test_one_new_email_twice_in_a_request_is_refused_before_any_write(fake, team):
    commits = fake.data.commits
    for pair in ([{"user_id": "a", "user_email": "x@example.com"},
                  {"user_id": "b", "user_email": "X@example.com"}],
                 [{"user_email": "x@example.com"},
                  {"user_id": "b", "user_email": "x@example.com"}],
                 [{"user_id": "a", "user_email": "x@example.com"},
                  {"user_email": "x@example.com"}]):
        with pytest.raises(BadRequest, match="listed twice"):
            add_members(team, *pair)
    assert fake.data.commits == commits and not fake.data.emails


def test_bulk_add_fails_only_the_member_with_someone_elses_email(fake, team):
    _claim(fake, "ann", "ann@example.com")
    added = members.bulk_add_members(ADMIN, BulkMemberAddRequest(team_id=team, members=[
        {"user_id": "junk", "user_email": "ann@example.com"}, {"user_id": "bob"}]))
    assert [r.success for r in added.results] == [False, True]
    assert "junk" not in fake.data.users


def test_self_join_takes_the_callers_own_email_or_none(fake):
    teams.create_team(ADMIN, TeamNewRequest(team_id="open-team"))
    _claim(fake, "ann", "ann@example.com")
    _row(fake, "bob")
    _claim(fake, "carol", "carol@example.com")
    ann, nobody = actor("ann", "internal_user"), actor("newcomer", "internal_user")
    # Someone else's email, an email the caller does not have, a claim by a caller without a row
    for caller, email in ((ann, "carol@example.com"), (actor("bob", "internal_user"),
                                                       "bob@example.com"),
                          (nobody, "newcomer@example.com")):
        with pytest.raises(BadRequest):
            add_members("open-team", {"user_id": caller.caller.user_id, "user_email": email},
                        caller=caller)
    assert "newcomer" not in fake.data.users
    add_members("open-team", {"user_id": "ann", "user_email": "ANN@example.com"}, caller=ann)
    assert fake.data.members[("open-team", "ann")]["user_email"] == "ann@example.com"


def test_emails_stored_before_their_items_are_found_and_stay_taken(fake, team):
    # Given a user row with an email but no email item (written before items existed)
    _row(fake, "old", "Old@Example.com")
    added = add_members(team, {"user_email": "old@example.com"})
    assert [u.user_id for u in added.updated_users] == ["old"]
    with pytest.raises(BadRequest, match="belongs to another user"):
        users.create_user(ADMIN, UserNewRequest(user_email="OLD@example.com"))
