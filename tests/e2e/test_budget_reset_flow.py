"""The budget reset as an operator runs it against `make dev`: budgets of 4 seconds, spent,
then `make reset-budgets` as of just after their boundary, twice at once, and once more as of
after the next boundary: spend 0, one audited reset per boundary passed, the next reset on the
old grid. The runs are told the time (RESET_NOW): nothing waits for the clock."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from tests.support.devhttp import call
from tests.support.template import REPO_ROOT

PERIOD = timedelta(seconds=4)
JUST_AFTER = timedelta(milliseconds=500)


def from_iso(text: str) -> datetime:
    """An answer's timestamp (`2026-11-27T06:09:14.123456Z`) as a datetime in UTC."""
    return datetime.fromisoformat(text)


def reset_budgets(server, now: datetime) -> dict:
    """`make reset-budgets`'s module with the dev server's PORT, run as of `now`; its JSON
    report."""
    env = {**os.environ, "PORT": server.url.rsplit(":", 1)[1], "RESET_NOW": now.isoformat()}
    env.pop("AWS_ENDPOINT_URL", None)  # found through the dev server's state file
    env.pop("TABLE_NAME", None)
    done = subprocess.run([sys.executable, "-m", "tests.support.resetbudgets"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _resets(server, object_id: str) -> list[dict]:
    status, page = call(server, "GET", f"/audit?object_id={object_id}")
    assert status == 200
    return [r for r in page["data"] if r["changed_by"] == "litellm_budget_reset_job"]


def test_racing_reset_runs_reset_each_boundary_once(dev_server):
    # Given a team, a membership budget and a key with 4-second budgets, all spent on
    _, user = call(dev_server, "POST", "/user/new", {})
    _, team = call(dev_server, "POST", "/team/new", {
        "budget_duration": "4s", "members_with_roles": [{"user_id": user["user_id"]}]})
    status, _ = call(dev_server, "POST", "/team/member_update", {
        "team_id": team["team_id"], "user_id": user["user_id"], "budget_duration": "4s",
        "max_budget_in_team": 1})
    assert status == 200
    _, key = call(dev_server, "POST", "/key/generate", {
        "user_id": user["user_id"], "team_id": team["team_id"], "budget_duration": "4s"})
    status, spent = call(dev_server, "POST", "/spend/track", {"token": key["token"],
                                                              "spend": 0.5})
    assert status == 200 and spent["team"]["spend"] == 0.5
    membership = f"{team['team_id']}:{user['user_id']}"
    objects = {"team": team["team_id"], "key": key["token"], "membership": membership}
    first_reset = from_iso(team["budget_reset_at"])
    # And one that is not due for a long time
    _, monthly = call(dev_server, "POST", "/team/new", {"budget_duration": "1mo"})
    _, monthly_key = call(dev_server, "POST", "/key/generate", {"team_id": monthly["team_id"]})
    call(dev_server, "POST", "/spend/track", {"token": monthly_key["token"], "spend": 2})

    # When two runs race as of just after the first boundary, then one more runs as of just
    # after the next boundary
    last_due = max(from_iso(key["budget_reset_at"]), first_reset)  # the membership's between
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: reset_budgets(dev_server, last_due + JUST_AFTER),
                                range(2)))
    reports.append(reset_budgets(dev_server, last_due + PERIOD + JUST_AFTER))
    assert all(r["errors"] == [] for r in reports)

    # Then every spend is 0 ...
    _, info = call(dev_server, "GET", f"/team/info?team_id={team['team_id']}")
    assert info["team_info"]["spend"] == 0
    assert info["team_memberships"][0]["spend"] == 0
    _, key_info = call(dev_server, "GET", f"/key/info?key={key['token']}")
    assert key_info["info"]["spend"] == 0
    # ... each object's resets form one chain, one record per boundary passed, on its grid
    for name, object_id in objects.items():
        records = list(reversed(_resets(dev_server, object_id)))  # oldest first
        assert records, name
        for earlier, later in zip(records, records[1:], strict=False):
            assert later["before_value"]["budget_reset_at"] == \
                earlier["updated_values"]["budget_reset_at"], name
        for record in records:
            before = from_iso(record["before_value"]["budget_reset_at"])
            after = from_iso(record["updated_values"]["budget_reset_at"])
            assert after > before and (after - before) % PERIOD == timedelta(0), name
            assert record["updated_values"]["spend"] == 0
    # The team's grid is the one it was created on
    team_records = list(reversed(_resets(dev_server, team["team_id"])))
    assert from_iso(team_records[0]["before_value"]["budget_reset_at"]) == first_reset
    # And the monthly budget was not touched
    _, monthly_info = call(dev_server, "GET", f"/team/info?team_id={monthly['team_id']}")
    assert monthly_info["team_info"]["spend"] == 2
    assert _resets(dev_server, monthly["team_id"]) == []
