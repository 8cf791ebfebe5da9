"""The audit trail as an operator sees it against `make dev`: GET /audit right after the changes,
and the same records out of `make audit-tail` once the stream poller has published them."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

from tests.support import devstate
from tests.support.devhttp import call
from tests.support.devprocess import dev_server_process, free_port
from tests.support.template import REPO_ROOT

TAIL_TIMEOUT_S = 30


def tail_records(server, object_id: str, count: int) -> list[dict]:
    """Run `make audit-tail`'s module with the dev server's PORT until it printed `count`
    records of the object (one JSON a line), then stop it."""
    env = {**os.environ, "PORT": server.url.rsplit(":", 1)[1]}
    for name in ("AWS_ENDPOINT_URL", "AUDIT_CARRIER", "AUDIT_QUEUE_URL", "AUDIT_STREAM_NAME"):
        env.pop(name, None)  # found through the dev server's state file
    tail = subprocess.Popen([sys.executable, "-m", "tests.support.audittail"], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in tail.stdout], daemon=True).start()
    found: list[dict] = []
    deadline = time.monotonic() + TAIL_TIMEOUT_S
    try:
        while len(found) < count and time.monotonic() < deadline:
            try:
                record = json.loads(lines.get(timeout=0.5))
            except queue.Empty:
                assert tail.poll() is None, tail.stderr.read()
                continue
            if record["object_id"] == object_id:
                found.append(record)
    finally:
        tail.terminate()
        tail.wait(timeout=10)
    return found


def test_five_changes_show_newest_first_in_get_audit_and_come_out_of_audit_tail(dev_server):
    # Given a team created, updated by alice, blocked, unblocked and given a model
    team_id = f"e2e-audit-{uuid.uuid4().hex[:8]}"
    steps = [("/team/new", {"team_id": team_id, "team_alias": "audited"}, {}),
             ("/team/update", {"team_id": team_id, "max_budget": 20},
              {"litellm-changed-by": "alice"}),
             ("/team/block", {"team_id": team_id}, {}),
             ("/team/unblock", {"team_id": team_id}, {}),
             ("/team/model/add", {"team_id": team_id, "models": ["gpt-4o"]}, {})]
    for path, body, headers in steps:
        status, answer = call(dev_server, "POST", path, body, headers=headers)
        assert status == 200, (path, answer)

    # When the operator reads the audit log at once
    status, page = call(dev_server, "GET", f"/audit?object_id={team_id}")

    # Then the five records are there, newest first
    assert status == 200
    records = page["data"]
    assert [r["action"] for r in records] == [
        "updated", "unblocked", "blocked", "updated", "created"]
    assert records[3]["changed_by"] == "alice"
    assert records[3]["updated_values"] == {"max_budget": 20.0}

    # And `make audit-tail` prints the same five, in commit order
    tailed = tail_records(dev_server, team_id, 5)
    assert [r["id"] for r in tailed] == [r["id"] for r in reversed(records)]
    assert tailed == list(reversed(records))


def test_a_team_admin_reads_the_teams_timeline_over_http(dev_server):
    # Given a team with a team admin (a user with a key), a key and a member removed
    suffix = uuid.uuid4().hex[:8]
    team_id, admin_id, member_id = (f"e2e-{n}-{suffix}" for n in ("team", "admin", "member"))
    status, admin = call(dev_server, "POST", "/user/new", {"user_id": admin_id})
    assert status == 200, admin
    for path, body in [
            ("/team/new", {"team_id": team_id, "members_with_roles": [
                {"user_id": admin_id, "role": "admin"}]}),
            ("/key/generate", {"team_id": team_id}),
            ("/team/member_add", {"team_id": team_id, "member": {"user_id": member_id}}),
            ("/team/member_delete", {"team_id": team_id, "user_id": member_id})]:
        status, answer = call(dev_server, "POST", path, body)
        assert status == 200, (path, answer)

    # When the team admin reads the team's timeline with their own key
    status, page = call(dev_server, "GET", f"/audit?team_id={team_id}", key=admin["key"])

    # Then it is the team's records, newest first (team/new's three in one transaction)
    assert status == 200, page
    changes = [(r["action"], r["table_name"]) for r in page["data"]]
    assert changes[:3] == [
        ("deleted", "LiteLLM_TeamMembership"), ("created", "LiteLLM_TeamMembership"),
        ("created", "LiteLLM_VerificationToken")]
    assert sorted(changes[3:]) == [("created", "LiteLLM_TeamMembership")] * 2 + [
        ("created", "LiteLLM_TeamTable")]
    assert page["next_cursor"] is None


def test_the_dev_server_notes_its_endpoint_for_audit_tail_and_removes_it_on_stop(tmp_path):
    # Given a dev server of this test's own, with a moto on a port of its choosing
    with dev_server_process(tmp_path) as server:
        port = int(server.url.rsplit(":", 1)[1])

        # Then the state file of its PORT names its process and that endpoint
        state = devstate.read(port)
        assert state is not None and state.pid == server.process.pid
        assert state.endpoint_url.startswith("http://127.0.0.1:")
        assert state.endpoint_url in server.log()
        # and the carrier a stack deploys by default: the FIFO queue, made on that endpoint
        assert state.audit_carrier == "sqs-fifo"
        assert state.audit_queue_url.startswith(state.endpoint_url)
        assert state.audit_queue_url.endswith("/teamledger-audit.fifo")
        assert "SQS FIFO queue teamledger-audit.fifo" in server.log()

        # When it is stopped, the file goes with it
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0
    assert not devstate.state_path(port).exists()


def test_audit_tail_without_a_dev_server_on_its_port_says_so():
    env = {**os.environ, "PORT": str(free_port())}
    env.pop("AWS_ENDPOINT_URL", None)

    result = subprocess.run([sys.executable, "-m", "tests.support.audittail"], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=30)

    assert result.returncode == 1
    assert "no `make dev` is running on port" in result.stderr
