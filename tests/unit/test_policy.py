"""The authorization rules as data: the order of checks of API.md, without any I/O."""

import pytest
from teamledger.auth import Caller
from teamledger.errors import Forbidden, NotFound
from teamledger.policy import Action, Relation, authorize, caller_kind, team_relations

ADMIN = Caller("t", "a", "proxy_admin")
VIEWER = Caller("t", "v", "proxy_admin_viewer")
USER = Caller("t", "u", "internal_user")
TEAM_KEY = Caller("t", None, None, team_id="team")
NOBODY = Caller("t", None, None)


def test_the_gate_comes_before_the_unknown_object():
    with pytest.raises(Forbidden):
        authorize(VIEWER, Action.TEAM_MANAGE, exists=False)
    with pytest.raises(NotFound):
        authorize(ADMIN, Action.TEAM_MANAGE, exists=False)


def test_unknown_objects_are_403_for_those_who_do_not_see_everything():
    with pytest.raises(Forbidden):
        authorize(USER, Action.TEAM_READ, exists=False)
    with pytest.raises(NotFound):
        authorize(VIEWER, Action.TEAM_READ, exists=False)


@pytest.mark.parametrize(("caller", "kind"), [
    (ADMIN, "proxy_admin"), (TEAM_KEY, "team_key"), (NOBODY, "none")])
def test_caller_kinds(caller, kind):
    assert caller_kind(caller) == kind


def test_team_relations_come_from_the_key_and_the_member_item():
    assert team_relations(TEAM_KEY, "team", None) == {Relation.TEAM_KEY}
    assert team_relations(USER, "team", "admin") == {Relation.TEAM_ADMIN, Relation.TEAM_MEMBER}
    assert team_relations(USER, "team", "user") == {Relation.TEAM_MEMBER}
    assert team_relations(USER, "team", None) == set()


def test_a_team_admin_manages_only_with_the_relation():
    authorize(USER, Action.TEAM_MANAGE, relations={Relation.TEAM_ADMIN})
    with pytest.raises(Forbidden):
        authorize(USER, Action.TEAM_MANAGE, relations={Relation.TEAM_MEMBER})


def test_a_key_with_no_identity_passes_no_gate():
    for action in Action:
        with pytest.raises(Forbidden):
            authorize(NOBODY, action)
