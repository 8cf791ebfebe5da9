"""GET /key/list and team_member_permissions on fakes of the stores: which keys a caller's
pages hold, how sources merge, how the bounded total counts; and the permission relations
as data."""

from typing import get_args

import pytest
from teamledger.domain import key_lists, keys, teams
from teamledger.domain.policy import (
    DEFAULT_MEMBER_PERMISSIONS,
    KEY_ROUTES,
    Relation,
    key_route_relations,
    member_permissions,
)
from teamledger.errors import Forbidden
from teamledger.http.models import KeyGenerateRequest, KeyRoute, TeamNewRequest

from tests.unit.conftest import ADMIN, VIEWER, actor

ANN = actor("ann", "internal_user")


def _key(**fields) -> str:
    return keys.generate_key(ADMIN, KeyGenerateRequest(**fields)).token


def _team(team_id: str, members: list[dict], **fields) -> None:
    teams.create_team(ADMIN, TeamNewRequest(team_id=team_id, members_with_roles=members,
                                            **fields))


def _page(caller, **query) -> tuple[list, int, int]:
    page = key_lists.list_keys(caller, key_lists.KeyQuery(**query))
    return page.keys, page.total_count, page.total_pages


def test_the_wire_names_the_same_key_routes_as_the_policy():
    assert get_args(KeyRoute) == KEY_ROUTES
    assert set(DEFAULT_MEMBER_PERMISSIONS) <= set(KEY_ROUTES)


@pytest.mark.parametrize(("role", "permissions", "route", "relations"), [
    ("admin", [], "/key/delete", {Relation.TEAM_ADMIN}),
    ("user", ["/key/delete"], "/key/delete", {Relation.PERMITTED_MEMBER}),
    ("user", ["/key/info"], "/key/delete", set()),
    (None, list(KEY_ROUTES), "/key/info", set()),
])
def test_team_admins_may_call_every_key_route_and_members_what_the_team_permits(
        role, permissions, route, relations):
    assert key_route_relations(route, role, permissions) == relations


def test_a_team_stored_without_permissions_has_the_default():
    assert member_permissions({"team_id": "old"}) == ["/key/info", "/key/list"]
    assert member_permissions({"team_member_permissions": []}) == []


def test_admins_and_viewers_page_through_every_key_in_token_order(fake):
    # Given five keys of no one
    tokens = sorted(_key() for _ in range(5))

    # When an admin and a viewer read pages of two
    for caller in (ADMIN, VIEWER):
        assert _page(caller, size=2) == (tokens[:2], 5, 3)
        assert _page(caller, size=2, page=3) == (tokens[4:], 5, 3)


def test_a_user_sees_their_keys_and_the_teams_that_let_them(fake):
    # Given ann's own key, a key of a team she is a plain member of (default permissions), of
    # a team that does not let members list, of a team she admins, and a stranger's key
    own = _key(user_id="ann")
    _team("open", [{"user_id": "ann"}])
    _team("closed", [{"user_id": "ann"}], team_member_permissions=["/key/info"])
    _team("hers", [{"user_id": "ann", "role": "admin"}], team_member_permissions=[])
    visible = [own, _key(team_id="open"), _key(team_id="hers")]
    _key(team_id="closed")
    _key(user_id="stranger")

    # When ann lists keys
    listed, total, _ = _page(ANN, size=100)

    # Then she sees hers and those teams', each once
    assert listed == sorted(visible) and total == 3
    assert _page(ANN, team_id="closed") == ([], 0, 1)


def test_a_key_of_ann_in_her_team_is_listed_once(fake):
    _team("open", [{"user_id": "ann"}])
    token = _key(user_id="ann", team_id="open")

    assert _page(ANN) == ([token], 1, 1)


def test_merged_sources_count_exactly_up_to_where_each_was_cut(fake, monkeypatch):
    # Given ann's 4 keys and 4 of a team she may list, and a count of one key past the page
    monkeypatch.setattr(key_lists, "COUNT_AHEAD", 1)
    _team("open", [{"user_id": "ann"}])
    tokens = sorted([_key(user_id="ann") for _ in range(4)] +
                    [_key(team_id="open") for _ in range(4)])

    # When the first page of two is read (each source cut after 3 keys)
    listed, total, pages = _page(ANN, size=2)

    # Then the page is exact, and the total a lower bound that says there is more
    assert listed == tokens[:2]
    assert 3 < total < 8 and pages >= 2
    # And the last page counts exactly
    assert _page(ANN, size=2, page=4) == (tokens[6:], 8, 4)


def test_full_objects_carry_spend_and_never_the_raw_key(fake):
    token = _key(key_alias="ci")

    (key,) = key_lists.list_keys(ADMIN, key_lists.KeyQuery(return_full_object=True)).keys

    assert not isinstance(key, str)
    assert (key.token, key.key_alias, key.spend) == (token, "ci", 0.0)


def test_a_key_without_a_user_may_not_list(fake):
    with pytest.raises(Forbidden):
        key_lists.list_keys(actor(None, None, team_id="t"), key_lists.KeyQuery())
