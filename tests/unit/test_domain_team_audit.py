"""A team's audit timeline (GET /audit?team_id=) in domain terms against the fakes: which
records are in a team's timeline (the team's, its memberships', its keys'; a moved key's), who
may read it, and what it refuses."""

import pytest
from teamledger.domain import audit_log, key_changes, keys, members, teams
from teamledger.errors import BadRequest, Forbidden, NotFound
from teamledger.http.models import (
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyUpdateRequest,
    MemberDeleteRequest,
    TeamDeleteRequest,
    TeamNewRequest,
    TeamUpdateRequest,
    UserNewRequest,
)

from tests.unit.conftest import ADMIN, VIEWER, actor, add_members


def _timeline(team_id: str, caller=ADMIN, **filters) -> list[tuple[str, str, str]]:
    page = audit_log.list_audit(caller, team_id=team_id, **filters)
    return [(r.action, r.table_name, r.object_id) for r in page.data]


def _two_teams() -> None:
    for team_id in ("t1", "t2"):
        teams.create_team(ADMIN, TeamNewRequest(team_id=team_id, members_with_roles=[
            {"user_id": f"{team_id}-admin", "role": "admin"},
            {"user_id": f"{team_id}-member", "role": "user"}]))


def test_a_teams_timeline_holds_its_own_its_memberships_and_its_keys_records(fake):
    # Given two teams, each changed, a member added and removed, a key made and deleted
    _two_teams()
    teams.update_team(ADMIN, TeamUpdateRequest(team_id="t1", team_alias="renamed"))
    add_members("t1", {"user_id": "new"})
    members.remove_member(ADMIN, MemberDeleteRequest(team_id="t1", user_id="new"))
    made = keys.generate_key(ADMIN, KeyGenerateRequest(team_id="t1"))
    keys.delete_keys(ADMIN, KeyDeleteRequest(keys=[made.token]))
    keys.generate_key(ADMIN, KeyGenerateRequest(team_id="t2"))
    # When t1's timeline is read
    timeline = _timeline("t1")
    # Then it is t1's records, newest first, and none of t2's nor any user's
    assert timeline == [
        ("deleted", "LiteLLM_VerificationToken", made.token),
        ("created", "LiteLLM_VerificationToken", made.token),
        ("deleted", "LiteLLM_TeamMembership", "t1:new"),
        ("created", "LiteLLM_TeamMembership", "t1:new"),
        ("updated", "LiteLLM_TeamTable", "t1"),
        ("created", "LiteLLM_TeamMembership", "t1:t1-member"),
        ("created", "LiteLLM_TeamMembership", "t1:t1-admin"),
        ("created", "LiteLLM_TeamMembership", "t1:default_user_id"),  # the master key's
        ("created", "LiteLLM_TeamTable", "t1")]
    # And its filters apply within it
    assert _timeline("t1", table_name="LiteLLM_TeamTable", action="updated") == [
        ("updated", "LiteLLM_TeamTable", "t1")]


def test_a_moved_key_is_in_the_timeline_of_the_team_it_moves_to(fake):
    # Given a key of t1, moved to t2, then changed there
    _two_teams()
    made = keys.generate_key(ADMIN, KeyGenerateRequest(team_id="t1"))
    key_changes.update_key(ADMIN, KeyUpdateRequest(key=made.token, team_id="t2"))
    key_changes.update_key(ADMIN, KeyUpdateRequest(key=made.token, key_alias="in t2"))
    # Then t1 has its creation, t2 its arrival and what happened to it after
    key_records = [("created", made.token)]
    assert [(a, o) for a, _, o in _timeline("t1") if o == made.token] == key_records
    assert [(a, o) for a, _, o in _timeline("t2") if o == made.token] == [
        ("updated", made.token), ("updated", made.token)]


def test_a_users_records_are_in_no_teams_timeline(fake):
    _two_teams()
    users_before = len(_timeline("t1"))
    from teamledger.domain import users

    users.create_user(ADMIN, UserNewRequest(user_id="solo"))
    assert len(_timeline("t1")) == users_before
    assert all(t != "LiteLLM_UserTable" for _, t, _ in _timeline("t1"))


def test_admins_viewers_and_the_teams_admins_read_it_members_do_not(fake):
    _two_teams()
    assert _timeline("t1", VIEWER)
    assert _timeline("t1", actor("t1-admin", "internal_user"))
    for caller in (actor("t1-member", "internal_user"), actor("t2-admin", "internal_user"),
                   actor(None, None, team_id="t1")):  # a plain member, another's admin, a team key
        with pytest.raises(Forbidden):
            _timeline("t1", caller)


def test_a_team_admin_with_a_viewer_role_reads_it_too(fake):
    teams.create_team(ADMIN, TeamNewRequest(team_id="t3", members_with_roles=[
        {"user_id": "watcher", "role": "admin"}]))
    assert _timeline("t3", actor("watcher", "internal_user_viewer"))


def test_unknown_team_is_404_for_admins_and_viewers_403_for_others(fake):
    for caller in (ADMIN, VIEWER):
        with pytest.raises(NotFound):
            _timeline("nope", caller)
    with pytest.raises(Forbidden):
        _timeline("nope", actor("someone", "internal_user"))


def test_a_deleted_teams_history_stays_readable_by_admins(fake):
    # Given t1 deleted with its members and a key
    _two_teams()
    keys.generate_key(ADMIN, KeyGenerateRequest(team_id="t1"))
    teams.delete_teams(ADMIN, TeamDeleteRequest(team_ids=["t1"]))
    # Then admins and viewers read its whole history, the deletes first
    for caller in (ADMIN, VIEWER):
        timeline = _timeline("t1", caller)
        assert {a for a, _, _ in timeline[:4]} == {"deleted"}
        assert timeline[-1] == ("created", "LiteLLM_TeamTable", "t1")
    # And its former team admin no longer may
    with pytest.raises(Forbidden):
        _timeline("t1", actor("t1-admin", "internal_user"))


def test_object_id_with_team_id_is_400_after_authorization(fake):
    _two_teams()
    with pytest.raises(BadRequest):
        audit_log.list_audit(ADMIN, team_id="t1", object_id="t1")
    with pytest.raises(Forbidden):  # the role is checked first
        audit_log.list_audit(actor("t1-member", "internal_user"), team_id="t1", object_id="t1")
