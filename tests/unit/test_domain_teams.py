"""The team lifecycle on fakes of the stores: what is written, what is audited, what is refused,
and lost races retried from a fresh read."""

import pytest
from teamledger.domain import teams
from teamledger.errors import BadRequest, Busy, Forbidden, NotFound
from teamledger.http.models import (
    TeamDeleteRequest,
    TeamModelsRequest,
    TeamNewRequest,
    TeamUpdateRequest,
)
from teamledger.store.refs import TeamRef

from tests.unit.conftest import ADMIN, VIEWER, actor


def _new(fake, **fields) -> str:
    return teams.create_team(ADMIN, TeamNewRequest(**fields)).team_id


def test_a_new_team_has_its_caller_as_admin_and_one_record_per_object(fake):
    # When the master key's user creates a team naming one more member
    team = teams.create_team(ADMIN, TeamNewRequest(
        team_id="t1", team_alias="Core", members_with_roles=[{"user_id": "alice"}]))
    # Then the caller is the first member, as admin, and alice a user
    assert [(m.user_id, m.role) for m in team.members_with_roles] == [
        ("default_user_id", "admin"), ("alice", "user")]
    # And the team, both memberships and both new users were written in one commit
    assert fake.data.commits == 1 and fake.data.team_count == 1
    assert set(fake.data.users) == {"default_user_id", "alice"}
    assert fake.data.users["default_user_id"]["user_role"] == "proxy_admin"
    assert fake.data.users["alice"]["user_role"] == "internal_user"
    # And each created object has exactly one audit record
    objects = sorted((r["table_name"], r["object_id"]) for r in fake.data.audit)
    assert objects == sorted([
        ("LiteLLM_TeamTable", "t1"), ("LiteLLM_UserTable", "default_user_id"),
        ("LiteLLM_UserTable", "alice"), ("LiteLLM_TeamMembership", "t1:default_user_id"),
        ("LiteLLM_TeamMembership", "t1:alice")])
    assert {r["action"] for r in fake.data.audit} == {"created"}


def test_a_budget_duration_starts_the_period_now(fake, clock):
    # When a team is created with a monthly budget on Jan 31
    _new(fake, team_id="t1", max_budget=10, budget_duration="1mo")
    # Then its first reset is a calendar month later, clamped to Feb 28
    team = fake.data.teams["t1"]
    assert team["budget_reset_at"] == "2026-02-28T12:00:00.000000Z"
    assert team["budget_anchor"] == team["budget_reset_at"]


def test_a_duplicate_team_id_is_400_and_writes_nothing(fake):
    # Given a team t1
    _new(fake, team_id="t1")
    records, commits = len(fake.data.audit), fake.data.commits
    # When another is created with its id
    with pytest.raises(BadRequest, match="already exists"):
        _new(fake, team_id="t1", members_with_roles=[{"user_id": "bob"}])
    # Then nothing of it was written: no user bob, no record, no count
    assert "bob" not in fake.data.users
    assert (len(fake.data.audit), fake.data.commits, fake.data.team_count) == (
        records, commits, 1)


@pytest.mark.parametrize("budget", [-1.0, float("nan"), float("inf")])
def test_a_negative_or_non_finite_budget_is_400(fake, budget):
    with pytest.raises(BadRequest, match="max_budget"):
        _new(fake, max_budget=budget)
    assert fake.data.teams == {}


def test_a_viewer_may_not_create_teams(fake):
    with pytest.raises(Forbidden):
        teams.create_team(VIEWER, TeamNewRequest())
    assert fake.data.commits == 0


def test_update_writes_only_what_changes_with_its_before_and_after(fake):
    # Given a team with an alias and a budget
    _new(fake, team_id="t1", team_alias="Core", max_budget=5)
    # When the alias changes and the budget is sent unchanged
    updated = teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", team_alias="Platform",
                                                         max_budget=5))
    # Then the team has the new alias, and the record names only the alias
    assert updated.data.team_alias == "Platform"
    record = fake.data.records("t1")[-1]
    assert (record["action"], record["before_value"], record["updated_values"]) == (
        "updated", {"team_alias": "Core"}, {"team_alias": "Platform"})
    # And sending the same again changes nothing and writes no record
    commits = fake.data.commits
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", team_alias="Platform"))
    assert fake.data.commits == commits


def test_a_new_budget_duration_starts_a_fresh_period_with_nothing_spent(fake, clock):
    # Given a team that has spent 3 in a daily period
    _new(fake, team_id="t1", budget_duration="1d")
    fake.data.teams["t1"]["spend"] = 3.0
    clock.advance(hours=5)
    # When its duration becomes weekly
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", budget_duration="1w"))
    # Then spend is 0 and the next reset is a week from now
    team = fake.data.teams["t1"]
    assert team["spend"] == 0.0
    assert team["budget_reset_at"] == "2026-02-07T17:00:00.000000Z"
    # And removing the schedule keeps the spend
    fake.data.teams["t1"]["spend"] = 1.0
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", budget_duration=None))
    assert "budget_reset_at" not in fake.data.teams["t1"]
    assert fake.data.teams["t1"]["spend"] == 1.0


def test_a_lost_race_is_retried_from_a_fresh_read(fake):
    # Given a team whose models another request changes just before this one commits
    _new(fake, team_id="t1", models=["a"])

    def concurrent_add() -> None:
        fake.data.teams["t1"]["models"] = ["a", "b"]
        fake.data.teams["t1"]["version"] += 1
    fake.before_commit.append(concurrent_add)
    # When a model is added
    team = teams.add_models(ADMIN, TeamModelsRequest(team_id="t1", models=["c"]))
    # Then neither change is lost
    assert team.models == ["a", "b", "c"]
    assert fake.data.teams["t1"]["models"] == ["a", "b", "c"]


def test_contention_that_never_ends_is_busy(fake, monkeypatch):
    from teamledger.store import retry

    monkeypatch.setattr(retry, "ATTEMPTS", 3)
    _new(fake, team_id="t1")

    def bump() -> None:
        fake.data.teams["t1"]["version"] += 1
        fake.before_commit.append(bump)  # and again for the next attempt
    fake.before_commit.append(bump)
    with pytest.raises(Busy):
        teams.set_blocked(ADMIN, "t1", True)
    fake.before_commit.clear()
    assert not fake.data.teams["t1"].get("blocked")


def test_blocking_a_blocked_team_writes_no_record(fake):
    _new(fake, team_id="t1")
    teams.set_blocked(ADMIN, "t1", True)
    records = len(fake.data.records("t1"))
    assert teams.set_blocked(ADMIN, "t1", True).blocked is True
    assert len(fake.data.records("t1")) == records
    assert fake.data.records("t1")[-1]["action"] == "blocked"


def test_models_keep_their_order_and_appear_once(fake):
    _new(fake, team_id="t1", models=["a", "b"])
    assert teams.add_models(ADMIN, TeamModelsRequest(team_id="t1", models=["b", "c", "c"])
                            ).models == ["a", "b", "c"]
    assert teams.delete_models(ADMIN, TeamModelsRequest(team_id="t1", models=["a", "x"])
                               ).models == ["b", "c"]


def test_an_unknown_team_is_404_for_admins_and_403_for_others(fake):
    with pytest.raises(NotFound):
        teams.team_info(ADMIN, "nope")
    with pytest.raises(Forbidden):
        teams.team_info(actor("alice", "internal_user"), "nope")


def test_team_admins_manage_their_team_and_members_may_not(fake):
    # Given alice admin and bob member of t1
    _new(fake, team_id="t1", members_with_roles=[
        {"user_id": "alice", "role": "admin"}, {"user_id": "bob"}])
    alice, bob = actor("alice", "internal_user"), actor("bob", "internal_user")
    # Then alice may rename it and bob may read but not rename it
    teams.update_team(alice, TeamUpdateRequest(team_id="t1", team_alias="Alice's"))
    assert teams.team_info(bob, "t1").team_info.team_alias == "Alice's"
    with pytest.raises(Forbidden):
        teams.update_team(bob, TeamUpdateRequest(team_id="t1", team_alias="Bob's"))


def test_delete_checks_every_id_first_and_then_removes_everything(fake):
    # Given t1 with a member and a key, and t2
    from teamledger.domain.keys import create_key, new_key

    _new(fake, team_id="t1", members_with_roles=[{"user_id": "alice"}])
    _new(fake, team_id="t2")
    tx = fake.transaction()
    _, key = new_key(user_id="alice", team_id="t1", user_role="internal_user", now="x")
    create_key(tx, ADMIN, key)
    tx.commit()
    # When t1, t2 and an unknown id are deleted: 404, and nothing is deleted
    with pytest.raises(NotFound):
        teams.delete_teams(ADMIN, TeamDeleteRequest(team_ids=["t1", "t2", "nope"]))
    assert set(fake.data.teams) == {"t1", "t2"}
    # When t1 and t2 are deleted
    assert teams.delete_teams(ADMIN, TeamDeleteRequest(team_ids=["t1", "t2"])
                              ).deleted_teams == ["t1", "t2"]
    # Then the teams, their members and the key are gone, uncounted, each audited once
    assert fake.data.teams == {} and fake.data.members == {} and fake.data.keys == {}
    assert fake.data.team_count == 0
    deleted = sorted(r["object_id"] for r in fake.data.audit if r["action"] == "deleted")
    assert deleted == sorted(["t1", "t2", "t1:default_user_id", "t1:alice",
                              "t2:default_user_id", key["token"]])
    assert fake.items.read([TeamRef("t1")]) == {}
