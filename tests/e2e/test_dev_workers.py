"""`make dev` runs the handlers in WORKERS processes, as Lambda runs concurrent invocations in
separate execution environments: concurrent requests run in different processes at once, their
races lose nothing, and a worker that fails costs that one request and is replaced.

Nothing here measures time (machines are noisy). That requests ran at once is seen in the
`x-dev-worker` header (the pid that ran the handler): the pool gives a request the worker that
went idle last and starts another only when every worker is busy, so a second pid means that
two invocations were running at the same moment."""

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import devworkers
from tests.support.devhttp import call, send
from tests.support.devprocess import dev_server_process

WORKERS = 4
FAILING = "tests.support.failinghandlers"
EXIT_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def workers_server(tmp_path_factory):
    """Given a dev server with four worker processes."""
    with dev_server_process(tmp_path_factory.mktemp("workers"), workers=WORKERS) as server:
        yield server


def at_once(count: int, request):
    """`request(i)` for i in range(count), each from a thread of its own, all released together."""
    barrier = threading.Barrier(count)

    def released(i):
        barrier.wait(timeout=30)
        return request(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(released, range(count)))


def test_a_burst_of_concurrent_requests_runs_in_several_worker_processes(workers_server):
    # When 16 clients create a team each, all at the same moment
    replies = at_once(16, lambda i: send(workers_server, "POST", "/team/new",
                                         {"team_alias": f"burst-{i}"}))

    # Then all are created, each answer naming the process that ran its handler
    assert [status for status, _, _ in replies] == [200] * 16, replies
    pids = {int(headers["x-dev-worker"]) for _, _, headers in replies}
    # and more than one process ran them (so two at the same moment), at most WORKERS, none of
    # them the server's own
    assert 2 <= len(pids) <= WORKERS, pids
    assert workers_server.process.pid not in pids


def test_forty_concurrent_member_adds_of_distinct_users_to_one_team_all_land(workers_server):
    # Given a team, and 40 users who are not in it
    status, team = call(workers_server, "POST", "/team/new", {"team_alias": "crowd"})
    assert status == 200
    users = [f"joiner-{uuid.uuid4().hex[:8]}" for _ in range(40)]

    # When all 40 are added at once, one request each
    replies = at_once(40, lambda i: call(workers_server, "POST", "/team/member_add", {
        "team_id": team["team_id"], "member": {"user_id": users[i]}}))

    # Then every add answers 200, and the team lists all 40 and its creator
    assert [status for status, _ in replies] == [200] * 40, replies
    status, info = call(workers_server, "GET", f"/team/info?team_id={team['team_id']}")
    assert status == 200
    assert sorted(m["user_id"] for m in info["team_info"]["members_with_roles"]) == sorted(
        ["default_user_id", *users])


def test_sixteen_concurrent_creates_of_one_team_id_make_one_team(workers_server):
    # Given a team_id nobody has used
    team_id = f"race-{uuid.uuid4().hex[:8]}"

    # When 16 clients create a team with it at once
    replies = at_once(16, lambda i: call(workers_server, "POST", "/team/new",
                                         {"team_id": team_id, "team_alias": f"racer-{i}"}))

    # Then exactly one is created, the 15 others refused with 400
    statuses = [status for status, _ in replies]
    assert sorted(statuses) == [200] + [400] * 15, replies
    winner = replies[statuses.index(200)][1]
    status, info = call(workers_server, "GET", f"/team/info?team_id={team_id}")
    assert status == 200
    assert info["team_info"]["team_alias"] == winner["team_alias"]


def test_a_killed_worker_is_replaced_and_sigterm_stops_every_worker(tmp_path):
    # Given a dev server with two workers, one of which has answered
    with dev_server_process(tmp_path, workers=2) as server:
        status, _, headers = send(server, "GET", "/health/liveliness")
        assert status == 200
        killed = int(headers["x-dev-worker"])

        # When that worker is killed while idle (kill -9: an out-of-memory kill)
        os.kill(killed, signal.SIGKILL)
        wait_until_ended(killed)

        # Then the next request is answered by another worker
        status, _, headers = send(server, "GET", "/health/liveliness")
        assert status == 200
        replacement = int(headers["x-dev-worker"])
        assert replacement != killed

        # And when the server gets SIGTERM, it exits cleanly and its workers are gone with it
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=EXIT_TIMEOUT_S) == 0
        wait_until_ended(replacement)


def test_a_handler_that_raises_or_a_worker_that_dies_fails_that_invocation_only():
    # Given the dev server's pool with one worker, which has answered an invocation
    pool = devworkers.WorkerPool(1, {}, [])
    try:
        answer, first = pool.invoke(FAILING, "answers", "Fn", {"n": 1})
        assert answer == {"event": {"n": 1}, "pid": first}

        # When its handler raises, the invocation fails with the handler's traceback
        with pytest.raises(devworkers.InvocationFailed, match="RuntimeError: failing on purpose"):
            pool.invoke(FAILING, "raises", "Fn", {"n": 2})
        # and the next one goes to a fresh worker
        _, second = pool.invoke(FAILING, "answers", "Fn", {"n": 3})

        # When that worker dies during an invocation, the invocation fails with its exit code
        with pytest.raises(devworkers.InvocationFailed,
                           match=f"worker {second} exited with code 3"):
            pool.invoke(FAILING, "dies", "Fn", {"n": 4})
        # and the next one goes to a fresh worker again
        answer, third = pool.invoke(FAILING, "answers", "Fn", {"n": 5})
    finally:
        pool.close()

    # Then each failure cost its own invocation and its worker, nothing more
    assert answer == {"event": {"n": 5}, "pid": third}
    assert len({first, second, third}) == 3


def wait_until_ended(pid: int) -> None:
    """Until the process has exited (gone, or a zombie its parent has yet to reap)."""
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            # The state follows the command name, which is in parentheses.
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not end")
