"""/team/info's first members and /team/members' pages, in domain terms against the fakes:
who may page a team's members, in which order, and what a cursor may be."""

import pytest
from teamledger import cursors
from teamledger.domain import teams
from teamledger.errors import BadRequest, Forbidden, NotFound
from teamledger.http.models import TeamNewRequest
from teamledger.store.refs import MemberRef

from tests.unit.conftest import ADMIN, actor, charge


@pytest.fixture
def team(fake, monkeypatch) -> str:
    """t1 of alice (admin) and 5 members, in pages of 2."""
    monkeypatch.setattr(teams, "MEMBERS_PAGE", 2)
    return teams.create_team(ADMIN, TeamNewRequest(team_id="t1", members_with_roles=[
        {"user_id": "alice", "role": "admin"}, *({"user_id": f"u{n}"} for n in range(5))])
    ).team_id


def _walk(caller, team_id: str, cursor: str | None) -> list[list[str]]:
    pages = []
    while cursor is not None:
        page = teams.team_members(caller, team_id, cursor)
        pages.append([m.user_id for m in page.team_memberships])
        cursor = page.next_cursor
    return pages


def test_info_shows_the_first_page_and_the_cursor_walks_the_rest(fake, team):
    # Given spend on one membership of the last page
    charge(fake, MemberRef(team, "u4"), 2.0)
    # When a member reads the team and follows the cursor
    alice = actor("alice", "internal_user")
    info = teams.team_info(alice, team)
    pages = _walk(alice, team, info.members_next_cursor)
    # Then every member shows once, by user id, pages of 2
    assert [m.user_id for m in info.team_memberships] == ["alice", "default_user_id"]
    assert {m.user_id for m in info.team_info.members_with_roles} == {"alice", "default_user_id"}
    assert pages == [["u0", "u1"], ["u2", "u3"], ["u4"]]
    last = teams.team_members(alice, team, cursors.encode([1, team, "u3"]))
    assert [(m.user_id, m.spend) for m in last.team_memberships] == [("u4", 2.0)]
    assert [m.role for m in last.members] == ["user"] and last.next_cursor is None


def test_members_pages_are_for_who_may_read_the_team(fake, team):
    with pytest.raises(Forbidden):
        teams.team_members(actor("stranger", "internal_user"), team, None)
    with pytest.raises(NotFound):
        teams.team_members(ADMIN, "nope", None)
    with pytest.raises(Forbidden):
        teams.team_members(actor("stranger", "internal_user"), "nope", None)
    assert teams.team_members(actor("u0", "internal_user_viewer"), team, None).next_cursor


@pytest.mark.parametrize("cursor", ["%%%", cursors.encode([1, "t2", "u1"]),
                                    cursors.encode([1, "t1", 5]), cursors.encode([1, "t1"])])
def test_a_bad_or_foreign_cursor_is_400(fake, team, cursor):
    with pytest.raises(BadRequest):
        teams.team_members(ADMIN, team, cursor)
