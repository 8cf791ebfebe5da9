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
from teamledger.store.refs import KeyRef, MemberRef, TeamRef, UserRef

from tests.unit.conftest import ADMIN, VIEWER, actor, charge


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
    charge(fake, TeamRef("t1"), 3.0)
    clock.advance(hours=5)
    # When its duration becomes weekly
    updated = teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", budget_duration="1w"))
    # Then spend is 0 (its counter restarted) and the next reset is a week from now
    team = fake.data.teams["t1"]
    assert fake.data.spend(TeamRef("t1")) == 0.0 and updated.data.spend == 0.0
    assert team["budget_reset_at"] == "2026-02-07T17:00:00.000000Z"
    assert fake.data.records("t1")[-1]["before_value"]["spend"] == 3.0
    # And removing the schedule keeps the spend
    charge(fake, TeamRef("t1"), 1.0)
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", budget_duration=None))
    assert "budget_reset_at" not in fake.data.teams["t1"]
    assert fake.data.spend(TeamRef("t1")) == 1.0


def test_a_new_period_that_loses_a_race_with_a_call_is_retried(fake, clock):
    # Given a team that has spent 3, and a call that adds 1 just before the update commits
    _new(fake, team_id="t1", budget_duration="1d")
    charge(fake, TeamRef("t1"), 3.0)
    fake.before_commit.append(lambda: charge(fake, TeamRef("t1"), 1.0))
    # When its duration changes: the counter's condition fails, and the retry reads it again
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", budget_duration="1w"))
    # Then the period restarts from everything spent, and the record says 4 ended
    assert fake.data.spend(TeamRef("t1")) == 0.0
    assert fake.data.records("t1")[-1]["before_value"]["spend"] == 4.0


def test_a_new_budget_is_copied_onto_the_counter_in_the_same_commit(fake):
    # Given a team whose counter exists (it has spent), with a budget of 5
    _new(fake, team_id="t1", max_budget=5)
    charge(fake, TeamRef("t1"), 1.0)
    assert fake.data.counters[TeamRef("t1")]["max_budget"] == 5 * 10**10
    # When the budget changes, then is removed
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", max_budget=2))
    assert fake.data.counters[TeamRef("t1")]["max_budget"] == 2 * 10**10
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", max_budget=None))
    assert "max_budget" not in fake.data.counters[TeamRef("t1")]
    # And a change whose team is deleted meanwhile writes neither the team nor the counter
    fake.before_commit.append(lambda: fake.data.teams["t1"].update(status="deleting"))
    with pytest.raises(NotFound):
        teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", max_budget=7))
    assert "max_budget" not in fake.data.counters[TeamRef("t1")]
    assert fake.data.spend(TeamRef("t1")) == 1.0


def test_a_new_budget_and_a_new_period_together_restart_the_counter(fake, clock):
    # Given a team that has spent 3 of a budget of 5
    _new(fake, team_id="t1", max_budget=5)
    charge(fake, TeamRef("t1"), 3.0)
    # When its budget and its duration change in one update
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", max_budget=10,
                                               budget_duration="1d"))
    # Then the new period starts with nothing spent, under the new budget
    counter = fake.data.counters[TeamRef("t1")]
    assert (counter["spend"], counter["max_budget"]) == (0, 10 * 10**10)


def test_team_info_shows_the_spend_of_the_counters(fake):
    # Given alice in t1 with a key, and spend on each of their counters
    from teamledger.domain.keys import create_key, new_key
    from teamledger.domain.users import user_info

    _new(fake, team_id="t1", members_with_roles=[{"user_id": "alice"}])
    tx = fake.transaction()
    _, key = new_key(user_id="alice", team_id="t1", user_role="internal_user", now="x")
    create_key(tx, ADMIN, key)
    tx.commit()
    charge(fake, TeamRef("t1"), 4.0)
    charge(fake, MemberRef("t1", "alice"), 2.0)
    charge(fake, KeyRef(key["token"]), 1.0)
    charge(fake, UserRef("alice"), 3.0)
    # Then /team/info reads each from its counter (no counter: 0)
    info = teams.team_info(ADMIN, "t1")
    assert info.team_info.spend == 4.0 and [k.spend for k in info.keys] == [1.0]
    assert {m.user_id: m.spend for m in info.team_memberships} == {
        "default_user_id": 0.0, "alice": 2.0}
    # And /user/info too, and the team listed there
    mine = user_info(ADMIN, "alice")
    assert mine.user_info.spend == 3.0 and [k.spend for k in mine.keys] == [1.0]
    assert [t.spend for t in mine.teams] == [4.0]
    assert fake.items.read([TeamRef("t1")])[TeamRef("t1")]["spend"] == 4.0


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
    for ref in (TeamRef("t1"), MemberRef("t1", "alice"), KeyRef(key["token"]), TeamRef("t2")):
        charge(fake, ref, 1.0)
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
    # And their counters and places in the spend order went with them
    assert fake.data.counters == {} and fake.data.spend_order == {}
    deleted = sorted(r["object_id"] for r in fake.data.audit if r["action"] == "deleted")
    assert deleted == sorted(["t1", "t2", "t1:default_user_id", "t1:alice",
                              "t2:default_user_id", key["token"]])
    assert fake.items.read([TeamRef("t1")]) == {}


def _spend_page(cursor: str | None = None, page_size: int = 10):
    from teamledger.domain.team_lists import Order, TeamFilter, list_teams_page

    return list_teams_page(ADMIN, user_id=None, team_filter=TeamFilter(),
                           order=Order("spend", descending=True), page=1, page_size=page_size,
                           cursor=cursor, explicit_order=True)


def _deliver_spend_order(fake) -> int:
    """The stream consumer's batch: every team counter's newest image, placed."""
    from teamledger.store.marshal import to_item
    from teamledger.stream import spend_order

    return spend_order.place([{"dynamodb": {"NewImage": to_item(c)}}
                              for c in fake.data.counters.values()])


def test_the_spend_order_follows_the_counters_once_placed(fake):
    # Given three teams, two of which spent
    for team_id in ("t1", "t2", "t3"):
        _new(fake, team_id=team_id)
    charge(fake, TeamRef("t1"), 1.5)
    charge(fake, TeamRef("t3"), 3.0)
    # Before the consumer places them, the order is the placed one (all 0: by team id), while
    # each row shows the spend its counter holds now
    page = _spend_page()
    assert [(t.team_id, t.spend) for t in page.teams] == [("t3", 3.0), ("t2", 0.0),
                                                          ("t1", 1.5)]
    # When the consumer places them: most spent first, each place written once
    assert _deliver_spend_order(fake) == 2 and _deliver_spend_order(fake) == 0
    page = _spend_page(page_size=2)
    assert [t.team_id for t in page.teams] == ["t3", "t1"] and page.total == 3
    assert [t.team_id for t in _spend_page(page.next_cursor).teams] == ["t2"]
