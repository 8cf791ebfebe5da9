"""The authorization rules as data: the order of checks of docs/api.md, without any I/O."""

from types import SimpleNamespace

import pytest
from teamledger.config import settings
from teamledger.domain.callers import Caller
from teamledger.domain.policy import (
    Action,
    Relation,
    authorize,
    caller_kind,
    self_join,
    team_relations,
)
from teamledger.errors import Forbidden, NotFound

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


def test_a_teams_budget_and_limits_and_an_admins_block_are_admins_only():
    # Team admins manage their team (TEAM_MANAGE), but not these, whatever their relation
    for action in (Action.TEAM_LIMITS, Action.TEAM_LIFT_ADMIN_BLOCK):
        authorize(ADMIN, action)
        for caller in (USER, VIEWER, TEAM_KEY):
            with pytest.raises(Forbidden):
                authorize(caller, action, relations={Relation.TEAM_ADMIN})


def test_a_key_with_no_identity_passes_no_gate():
    for action in Action:
        with pytest.raises(Forbidden):
            authorize(NOBODY, action)


def test_team_admins_manage_members_and_plain_members_do_not():
    authorize(USER, Action.MEMBER_MANAGE, relations={Relation.TEAM_ADMIN})
    authorize(ADMIN, Action.MEMBER_MANAGE)
    for caller, relations in ((USER, {Relation.TEAM_MEMBER}), (VIEWER, set()),
                              (TEAM_KEY, {Relation.TEAM_KEY})):
        with pytest.raises(Forbidden):
            authorize(caller, Action.MEMBER_MANAGE, relations=relations)


@pytest.fixture
def available(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "unit")
    monkeypatch.setenv("AVAILABLE_TEAMS", " open , also-open,")
    settings.cache_clear()
    yield
    settings.cache_clear()


def member(user_id, role="user"):
    return SimpleNamespace(user_id=user_id, role=role)


@pytest.mark.parametrize(("team_id", "members", "budgeted", "joins"), [
    ("open", [member("u")], False, True),
    ("also-open", [member("u")], False, True),
    ("closed", [member("u")], False, False),
    ("open", [member("u", "admin")], False, False),
    ("open", [member("u")], True, False),
    ("open", [member("someone")], False, False),
    ("open", [member("u"), member("someone")], False, False),
    ("open", [member(None)], False, False),
])
def test_self_join_is_only_oneself_as_user_without_budget_to_an_available_team(
        available, team_id, members, budgeted, joins):
    relations = self_join(USER, team_id, members, budgeted)
    assert relations == ({Relation.SELF_JOIN} if joins else set())
    if joins:
        authorize(USER, Action.MEMBER_MANAGE, relations=relations)


def test_no_self_join_without_a_user(available):
    assert self_join(TEAM_KEY, "open", [member(None)], False) == set()


@pytest.mark.parametrize(("allowed", "route", "may"), [
    ((), "/team/new", True),  # not limited
    (("/key/info",), "/key/info", True),
    (("/key/info",), "/key/info/x", False),  # a path is exact
    (("/spend/*",), "/spend/track", True),
    (("/spend/*",), "/spend", False),  # a prefix of paths below it
    (("/spend/*",), "/spendings/x", False),
    (("/key/info", "/team/*"), "/team/member_add", True),
    (("/key/info",), None, False),
])
def test_a_key_limited_to_routes_calls_those_only(allowed, route, may):
    caller = Caller("t", "u", "proxy_admin", route=route, allowed_routes=allowed)
    assert caller.may_call_route() is may
    if not may:
        with pytest.raises(Forbidden, match="This key may only call"):
            authorize(caller, Action.TEAM_READ)
