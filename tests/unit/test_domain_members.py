"""Members on fakes of the stores: adds all or nothing (or each on its own in bulk), the member
budget, removal, and the races a conditional put decides."""

import pytest
from teamledger.domain import members, teams
from teamledger.errors import BadRequest, Forbidden, NotFound
from teamledger.http.models import (
    BulkMemberAddRequest,
    MemberDeleteRequest,
    MemberUpdateRequest,
    TeamNewRequest,
)
from teamledger.store.refs import MemberRef

from tests.unit.conftest import ADMIN, actor, add_members, charge


def test_a_member_by_email_becomes_a_new_user_with_a_budget(fake, team, clock):
    # When a member named only by email is added with a budget of 5 per week
    added = add_members(team, {"user_email": "Ann@Example.com"}, max_budget_in_team=5,
                        budget_duration="1w")
    # Then a user with that email exists and is the member, with its own budget
    (user_id,) = [u for u in fake.data.users if u != "default_user_id"]
    assert fake.data.users[user_id]["user_email"] == "Ann@Example.com"
    membership = added.updated_team_memberships[0]
    assert membership.user_id == user_id and membership.litellm_budget_table is not None
    assert membership.litellm_budget_table.max_budget == 5
    assert membership.litellm_budget_table.budget_reset_at == "2026-02-07T12:00:00.000000Z"
    # And a second add by the same email is the same user, refused as already in
    with pytest.raises(BadRequest, match=f"User {user_id} is already a member"):
        add_members(team, {"user_email": "ann@example.com"})


def test_a_list_is_all_or_nothing(fake, team):
    # Given bob in the team
    add_members(team, {"user_id": "bob"})
    commits = fake.data.commits
    # When carol and bob are added together
    with pytest.raises(BadRequest, match="bob is already a member"):
        add_members(team, {"user_id": "carol"}, {"user_id": "bob"})
    # Then carol was not added either, and no user row was made for her
    assert ("t1", "carol") not in fake.data.members and "carol" not in fake.data.users
    assert fake.data.commits == commits


def test_a_concurrent_add_of_the_same_member_is_refused_by_the_put(fake, team):
    # Given another request that adds bob after this one read the team
    def concurrent_add() -> None:
        fake.data.members[("t1", "bob")] = {"entity": "member", "team_id": "t1",
                                            "user_id": "bob", "role": "user", "version": 1}
    fake.before_commit.append(concurrent_add)
    # When bob is added: the conditional put refuses, with a 400 naming him only
    with pytest.raises(BadRequest, match="^User bob is already a member of this team$"):
        add_members(team, {"user_id": "bob"})


def test_adding_to_a_team_deleted_meanwhile_is_404(fake, team):
    fake.before_commit.append(lambda: fake.data.teams["t1"].update(status="deleting"))
    with pytest.raises(NotFound):
        add_members(team, {"user_id": "bob"})
    assert ("t1", "bob") not in fake.data.members


def test_self_join_is_for_available_teams_only(fake):
    # Given an available team and another one
    teams.create_team(ADMIN, TeamNewRequest(team_id="open-team"))
    teams.create_team(ADMIN, TeamNewRequest(team_id="closed"))
    dana = actor("dana", "internal_user")
    # Then dana may join the available one as a plain user, without a budget
    add_members("open-team", {"user_id": "dana"}, caller=dana)
    assert fake.data.members[("open-team", "dana")]["role"] == "user"
    # And not as admin there, nor join the other team at all
    with pytest.raises(Forbidden):
        add_members("closed", {"user_id": "dana"}, caller=dana)
    with pytest.raises(Forbidden):
        add_members("open-team", {"user_id": "dana", "role": "admin"}, caller=dana)


def test_bulk_adds_each_member_on_its_own(fake, team):
    # Given bob already in
    add_members(team, {"user_id": "bob"})
    # When a bulk add names bob, carol twice and dave
    result = members.bulk_add_members(ADMIN, BulkMemberAddRequest(team_id=team, members=[
        {"user_id": "bob"}, {"user_id": "carol"}, {"user_id": "carol"}, {"user_id": "dave"}]))
    # Then carol and dave are in, and bob and the second carol failed alone, saying why
    assert (result.successful_additions, result.failed_additions) == (2, 2)
    errors = {(r.user_id, r.success): r.error for r in result.results}
    assert "already a member" in errors[("bob", False)]
    assert "listed twice" in errors[("carol", False)]
    assert {("t1", "carol"), ("t1", "dave")} <= set(fake.data.members)


def test_member_update_creates_then_changes_the_budget_and_the_role(fake, team):
    add_members(team, {"user_id": "bob"})
    # When bob gets a budget, then a new one and the admin role
    members.change_member(ADMIN, MemberUpdateRequest(team_id=team, user_id="bob",
                                                     max_budget_in_team=10))
    budget_id = fake.data.members[("t1", "bob")]["budget_id"]
    answer = members.change_member(ADMIN, MemberUpdateRequest(
        team_id=team, user_id="bob", max_budget_in_team=20, role="admin"))
    # Then the budget kept its id and has the new amount, and the roster says admin
    member = fake.data.members[("t1", "bob")]
    assert (member["budget_id"], member["max_budget"], member["role"]) == (budget_id, 20, "admin")
    assert answer.max_budget_in_team == 20
    assert fake.data.teams["t1"]["roster"]["bob"]["role"] == "admin"
    # And each change has one record with what changed
    changes = [r["updated_values"] for r in fake.data.records("t1:bob") if r["action"] == "updated"]
    assert changes[-1] == {"role": "admin", "max_budget": 20}
    # And bob's counter holds a copy of the budget, written with it
    assert fake.data.counters[MemberRef("t1", "bob")]["max_budget"] == 20 * 10**10


def test_a_new_member_budget_period_restarts_the_member_s_counter(fake, team, clock):
    # Given bob, with a budget of 5 in t1, who has spent 2 of it
    add_members(team, {"user_id": "bob"}, max_budget_in_team=5)
    charge(fake, MemberRef("t1", "bob"), 2.0)
    # When his membership budget becomes daily: a new period, with nothing spent in it
    members.change_member(ADMIN, MemberUpdateRequest(team_id=team, user_id="bob",
                                                     max_budget_in_team=5, budget_duration="1d"))
    counter = fake.data.counters[MemberRef("t1", "bob")]
    assert (counter["spend"], counter["used"], counter["max_budget"]) == (0, 0, 5 * 10**10)
    (record,) = [r for r in fake.data.records("t1:bob") if r["action"] == "updated"]
    assert record["before_value"]["spend"] == 2.0
    assert "spend" not in fake.data.members[("t1", "bob")]


def test_a_new_budget_and_a_new_period_together_restart_the_counter(fake, team, clock):
    # Given bob, who has spent 2 in t1
    add_members(team, {"user_id": "bob"})
    charge(fake, MemberRef("t1", "bob"), 2.0)
    # When his membership gets a daily budget of 5 in one update
    members.change_member(ADMIN, MemberUpdateRequest(team_id=team, user_id="bob",
                                                     max_budget_in_team=5, budget_duration="1d"))
    counter = fake.data.counters[MemberRef("t1", "bob")]
    assert (counter["spend"], counter["max_budget"]) == (0, 5 * 10**10)


def test_updating_or_removing_a_non_member_is_400(fake, team):
    with pytest.raises(BadRequest, match="not a member"):
        members.change_member(ADMIN, MemberUpdateRequest(team_id=team, user_id="ghost",
                                                         role="admin"))
    with pytest.raises(BadRequest, match="not a member"):
        members.remove_member(ADMIN, MemberDeleteRequest(team_id=team, user_id="ghost"))


def test_removing_a_member_takes_its_budget_and_roster_entry(fake, team):
    add_members(team, {"user_id": "bob", "user_email": "bob@example.com"}, max_budget_in_team=3)
    charge(fake, MemberRef("t1", "bob"), 1.0)
    team_after = members.remove_member(ADMIN, MemberDeleteRequest(team_id=team,
                                                                  user_email="BOB@example.com"))
    assert [m.user_id for m in team_after.members_with_roles] == ["default_user_id"]
    assert ("t1", "bob") not in fake.data.members
    assert "bob" not in fake.data.teams["t1"]["roster"]
    assert MemberRef("t1", "bob") not in fake.data.counters
    (record,) = [r for r in fake.data.records("t1:bob") if r["action"] == "deleted"]
    assert record["before_value"]["litellm_budget_table"]["max_budget"] == 3
