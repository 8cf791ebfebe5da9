"""The roster's bound over real HTTP, against `make dev`'s server with its handlers in four
worker processes (issue 13, defect 2): a bulk add of 500 long members to a team of 476 races
40 single adds from 16 clients. Once, the bulk add's chunks each reckoned their room from the
team as read at the start, and the roster grew to 976 entries. Now every member lands, the
roster (what list pages show) holds exactly 500 entries and stays under DynamoDB's 400 KB, and
the team is updated, blocked, unblocked and deleted like any other.

That the requests raced for real is seen in `x-dev-worker`: more than one worker process
answered them."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import boto3
import pytest

from bench.capacity_model import item_size
from tests.support import devhttp, devstate
from tests.support.devhttp import call, send
from tests.support.devprocess import dev_server_process
from tests.support.rosters import DYNAMODB_ITEM_LIMIT, ROSTER_LIMIT, roster_item

WORKERS = 4
CLIENTS = 16


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Given a dev server with four worker processes (whatever WORKERS says), and clients that
    wait as long as a bulk add of 500 takes on moto."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(devhttp, "TIMEOUT_S", 300)
        with dev_server_process(tmp_path_factory.mktemp("roster-race"), workers=WORKERS) as dev:
            yield dev


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _roster_item(server, team_id: str) -> dict:
    """The item that holds the team's roster, read straight from the dev server's moto."""
    state = devstate.read(int(server.url.rsplit(":", 1)[1]))
    assert state is not None
    client = boto3.client("dynamodb", endpoint_url=state.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    return roster_item(client, state.table_name, team_id)


def _ok(server, method: str, path: str, body=None, key: str | None = None):
    status, answer = call(server, method, path, body, key=key)
    assert status == 200, (path, status, answer)
    return answer


def test_a_bulk_add_racing_single_adds_never_passes_the_roster_s_bound(server):
    # Given a team of 476 members (its creator and 475 added)
    team_id = _ok(server, "POST", "/team/new", {"team_id": f"race-{_uid()}"})["team_id"]
    added = _ok(server, "POST", "/team/bulk_member_add", {
        "team_id": team_id, "members": [{"user_id": f"old-{_uid()}"} for _ in range(475)]})
    assert added["successful_additions"] == 475
    # and 500 members with the longest ids and emails there are (plain ASCII: they all fit)
    tag = _uid()
    long_ones = [{"user_id": f"bulk-{tag}-{n:03d}".ljust(256, "x"),
                  "user_email": f"bulk-{tag}-{n:03d}".ljust(308, "x") + "@example.com"}
                 for n in range(500)]
    singles = [{"team_id": team_id, "member": {"user_id": f"single-{_uid()}"}}
               for _ in range(40)]

    # When the bulk add of the 500 and 40 single adds are sent at once
    def send_one(request: tuple[str, dict]):
        return send(server, "POST", *request)

    requests = [("/team/bulk_member_add", {"team_id": team_id, "members": long_ones})] + [
        ("/team/member_add", body) for body in singles]
    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = list(pool.map(send_one, requests))

    # Then every add succeeded, in more than one worker process
    assert [status for status, _, _ in replies] == [200] * len(requests), [
        (status, answer) for status, answer, _ in replies if status != 200][:3]
    assert replies[0][1]["successful_additions"] == 500
    assert len({headers["x-dev-worker"] for _, _, headers in replies}) > 1
    # And /team/info (its first 1,000) and /team/members (the rest) have every member
    info = _ok(server, "GET", f"/team/info?team_id={team_id}")
    members = [m["user_id"] for m in info["team_info"]["members_with_roles"]]
    cursor = info["members_next_cursor"]
    while cursor is not None:
        query = urlencode({"team_id": team_id, "cursor": cursor})
        page = _ok(server, "GET", f"/team/members?{query}")
        members += [m["user_id"] for m in page["members"]]
        cursor = page["next_cursor"]
    assert len(members) == len(set(members)) == 476 + 500 + 40
    # And the roster holds exactly its bound, far under DynamoDB's item limit
    item = _roster_item(server, team_id)
    assert len(item["roster"]["M"]) == ROSTER_LIMIT
    assert item_size(item) <= DYNAMODB_ITEM_LIMIT
    # And a list page shows those 500, all of them members
    (listed,) = _ok(server, "GET", f"/v2/team/list?team_id={team_id}")["teams"]
    shown = [m["user_id"] for m in listed["members_with_roles"]]
    assert len(shown) == ROSTER_LIMIT and set(shown) <= set(members)

    # And the team at its bound is managed as any other: updated, blocked (its key refused),
    # unblocked and deleted
    key = _ok(server, "POST", "/key/generate", {"team_id": team_id})["key"]
    _ok(server, "POST", "/team/update", {"team_id": team_id, "team_alias": "at the bound",
                                         "max_budget": 10})
    _ok(server, "POST", "/team/block", {"team_id": team_id})
    assert call(server, "GET", f"/team/info?team_id={team_id}", key=key)[0] == 401
    _ok(server, "POST", "/team/unblock", {"team_id": team_id})
    assert call(server, "GET", f"/team/info?team_id={team_id}", key=key)[0] == 200
    _ok(server, "POST", "/team/delete", {"team_ids": [team_id]})
    assert call(server, "GET", f"/team/info?team_id={team_id}")[0] == 404
