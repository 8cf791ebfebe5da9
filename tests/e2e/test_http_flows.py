"""The service as a LiteLLM client sees it: real HTTP against `make dev`'s server."""

import json
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.devhttp import call


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_team_new_with_the_master_key_answers_200(dev_server):
    # As the README shows it: curl -d with no content-type header at all
    result = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
         f"{dev_server.url}/team/new", "-H", f"Authorization: Bearer {dev_server.master_key}",
         "-d", '{"team_alias": "curl-team", "models": ["gpt-4o"]}'],
        capture_output=True, text=True, timeout=30, check=True)
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200", result.stdout
    team = json.loads(body)
    assert team["team_alias"] == "curl-team"
    assert team["members_with_roles"][0] == {
        "user_id": "default_user_id", "user_email": None, "role": "admin"}


def test_litellm_team_flow_over_http(dev_server):
    status, user = call(dev_server, "POST", "/user/new", {"user_email": "e2e@example.com"})
    assert status == 200
    status, team = call(dev_server, "POST", "/team/new", {
        "team_alias": "e2e", "members_with_roles": [{"user_id": user["user_id"]}],
        "models": ["gpt-4o"]})
    assert status == 200
    team_id = team["team_id"]

    status, key = call(dev_server, "POST", "/key/generate", {"team_id": team_id})
    assert status == 200
    status, info = call(dev_server, "GET", f"/team/info?team_id={team_id}", key=key["key"])
    assert status == 200 and [k["token"] for k in info["keys"]] == [key["token"]]

    status, updated = call(dev_server, "POST", "/team/update",
                           {"team_id": team_id, "team_alias": "e2e-renamed"},
                           headers={"litellm-changed-by": "alice"})
    assert status == 200 and updated["data"]["team_alias"] == "e2e-renamed"

    status, _ = call(dev_server, "POST", "/team/block", {"team_id": team_id})
    assert status == 200
    assert call(dev_server, "GET", f"/team/info?team_id={team_id}", key=key["key"])[0] == 401

    status, deleted = call(dev_server, "POST", "/team/delete", {"team_ids": [team_id]})
    assert status == 200 and deleted == {"deleted_teams": [team_id]}
    assert call(dev_server, "GET", f"/team/info?team_id={team_id}")[0] == 404
    status, info = call(dev_server, "GET", f"/user/info?user_id={user['user_id']}")
    assert status == 200 and info["user_info"]["teams"] == []


def test_concurrent_member_adds_over_http(dev_server):
    # Given a team, 50 users to add and one more who is added 10 times at once
    status, team = call(dev_server, "POST", "/team/new", {"team_alias": "e2e-crowd"})
    assert status == 200
    joiners = [f"e2e-joiner-{uuid.uuid4().hex[:8]}" for _ in range(50)]
    twice = f"e2e-twice-{uuid.uuid4().hex[:8]}"
    bodies = [{"team_id": team["team_id"], "member": {"user_id": u}}
              for u in [*joiners, *[twice] * 10]]
    # When all 60 adds are sent at once
    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda b: call(dev_server, "POST", "/team/member_add", b),
                                bodies))
    # Then the 50 different users all land, and the same user once (nine 400s)
    assert [status for status, _ in replies[:50]] == [200] * 50, replies[:50]
    assert sorted(status for status, _ in replies[50:]) == [200] + [400] * 9, replies[50:]
    status, info = call(dev_server, "GET", f"/team/info?team_id={team['team_id']}")
    assert status == 200
    assert {m["user_id"] for m in info["team_info"]["members_with_roles"]} == {
        "default_user_id", twice, *joiners}
    # And the roster the list pages show lost none of them either
    status, page = call(dev_server, "GET", f"/v2/team/list?team_id={team['team_id']}")
    assert status == 200
    assert {m["user_id"] for m in page["teams"][0]["members_with_roles"]} == {
        "default_user_id", twice, *joiners}


def test_concurrent_spend_reports_over_http_add_exactly(dev_server):
    # Given a key of a user who is in a team
    _, user = call(dev_server, "POST", "/user/new", {})
    _, team = call(dev_server, "POST", "/team/new", {"members_with_roles": [
        {"user_id": user["user_id"], "role": "user"}]})
    _, key = call(dev_server, "POST", "/key/generate",
                  {"user_id": user["user_id"], "team_id": team["team_id"]})
    # When 100 reports of 0.01 arrive at once
    body = {"token": key["token"], "spend": 0.01}
    with ThreadPoolExecutor(25) as pool:
        replies = list(pool.map(lambda _: call(dev_server, "POST", "/spend/track", body),
                                range(100)))
    assert [status for status, _ in replies] == [200] * 100
    # Then key, user, team and membership each hold exactly 1.00
    _, last = call(dev_server, "POST", "/spend/track", {"token": key["token"], "spend": 0.01})
    assert [last[k]["spend"] for k in ("key", "user", "team", "team_membership")] == [1.01] * 4


def test_concurrent_retries_of_one_report_count_once_over_http(dev_server):
    # Given a team key
    _, team = call(dev_server, "POST", "/team/new", {})
    _, key = call(dev_server, "POST", "/key/generate", {"team_id": team["team_id"]})
    # When a gateway sends one report 12 times at once (its retries), and 5 other reports
    reports = [{"token": key["token"], "spend": 0.5, "request_id": "call-0"}] * 12 + [
        {"token": key["token"], "spend": 0.5, "request_id": f"call-{n}"} for n in range(1, 6)]
    with ThreadPoolExecutor(17) as pool:
        replies = list(pool.map(lambda body: call(dev_server, "POST", "/spend/track", body),
                                reports))
    # Then every one answered 200, and each report counted once: 6 x 0.5
    assert [status for status, _ in replies] == [200] * 17
    _, info = call(dev_server, "GET", f"/team/info?team_id={team['team_id']}")
    assert info["team_info"]["spend"] == 3.0


def test_the_raw_master_key_and_raw_keys_never_reach_the_log(dev_server):
    _, key = call(dev_server, "POST", "/key/generate", {})
    call(dev_server, "GET", f"/key/info?key={key['key']}")
    call(dev_server, "GET", "/team/info?team_id=nope", key=key["key"])
    log = dev_server.log()
    assert key["key"] not in log
    assert dev_server.master_key not in log.split("ready", 1)[-1]
