"""Alias changes racing over real HTTP, against `make dev`'s server with its handlers in four
worker processes: a team's alias words (the search index) are replaced in the same
transaction as the team, on condition of the version read, so whichever change wins, a search
finds the team by the alias it has and by no alias it had.

That the requests raced for real is seen in `x-dev-worker`: more than one worker process
answered them."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.devhttp import call, send
from tests.support.devprocess import dev_server_process

WORKERS = 4
CHANGES = 16


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with dev_server_process(tmp_path_factory.mktemp("alias-race"), workers=WORKERS) as dev:
        yield dev


def _found(server, query: str) -> list[str]:
    status, page = call(server, "GET", f"/v2/team/list?team_alias={query}&page_size=100")
    assert status == 200, page
    return [team["team_id"] for team in page["teams"]]


def test_racing_alias_changes_leave_the_index_with_the_alias_that_won(server):
    # Given a team, and 16 different new aliases for it, each with a word of its own
    run = uuid.uuid4().hex[:8]
    status, team = call(server, "POST", "/team/new", {"team_alias": f"start{run} team"})
    assert status == 200, team
    team_id = team["team_id"]
    aliases = [f"word{n:02d}x{run} team" for n in range(CHANGES)]

    # When they are all sent at once from 16 clients
    def change(alias: str):
        return send(server, "POST", "/team/update", {"team_id": team_id, "team_alias": alias})

    with ThreadPoolExecutor(CHANGES) as pool:
        replies = list(pool.map(change, aliases))

    # Then each is applied or refused as a lost race (503), never half-written
    assert {status for status, _, _ in replies} <= {200, 503}, replies
    assert any(status == 200 for status, _, _ in replies)
    assert len({headers["x-dev-worker"] for _, _, headers in replies}) > 1
    # And a search finds the team by the alias it ended with, and by no other it had
    status, info = call(server, "GET", f"/team/info?team_id={team_id}")
    final = info["team_info"]["team_alias"]
    assert final in aliases
    assert _found(server, final.split()[0]) == [team_id]
    for alias in [f"start{run} team", *aliases]:
        if alias != final:
            assert _found(server, alias.split()[0]) == [], alias
