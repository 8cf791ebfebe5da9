"""The gateway's per-call path over real HTTP, against `make dev`'s server with its handlers in
four worker processes: many callers of one budget at once, as a busy proxy sends them.

A budget of 5.00 admits exactly fifty reservations of 0.10, however many arrive at once: 200
concurrent reserves from a pool of 48 HTTP clients (all with the gateway's key) answer fifty 200
and 150 429 naming the scope whose budget binds, be it the team's, the membership's or the key's.
Settling the fifty concurrently, each below its reservation, leaves exactly the settled sum as
spend in every scope (to the cent, read from the admin routes and from a reserve of 0) and
nothing reserved; settling some of them again, or several times at once, or racing a release,
counts each once. A lease that runs out is charged by one run of the schedule (as
`make reset-budgets` runs it), and a late settle replaces that charge, once.

That the requests raced for real is seen in `x-dev-worker`, the pid of the worker process that
ran each handler: the 200 reserves were answered by more than one of them."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.support.devhttp import call, send
from tests.support.devprocess import dev_server_process
from tests.support.template import REPO_ROOT

WORKERS = 4
CLIENTS = 48  # concurrent HTTP clients
RESERVES = 200
BUDGET = 5.0
AMOUNT = 0.1
ADMITTED = 50  # BUDGET / AMOUNT
# The actual cost of each admitted call: 0.01 to 0.09, every value several times.
SETTLED = [Decimal(1 + (i * 7) % 9) / 100 for i in range(ADMITTED)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Given a dev server with four worker processes (whatever WORKERS says), whose own budget
    reset schedule does not run during the module (the tests run the schedule themselves)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUDGET_RESET_INTERVAL", "3600")
        with dev_server_process(tmp_path_factory.mktemp("hot-path"), workers=WORKERS) as dev:
            assert f"up to {WORKERS} handler processes" in dev.log(), dev.log()
            yield dev


@pytest.fixture(scope="module")
def gateway(server) -> str:
    """The gateway's own key: no user, limited to the /spend/* routes."""
    status, key = call(server, "POST", "/key/generate", {"allowed_routes": ["/spend/*"]})
    assert status == 200, key
    return key["key"]


@dataclass
class Caller:
    """An end user's key in a team, and the ids its spend adds up in."""

    key: str
    token: str
    user_id: str
    team_id: str


def new_caller(server, scope: str) -> Caller:
    """A user in a team, with a key there; the budget of 5.00 is on `scope` only."""
    status, user = call(server, "POST", "/user/new", {})
    assert status == 200, user
    status, team = call(server, "POST", "/team/new", {
        "members_with_roles": [{"user_id": user["user_id"], "role": "user"}],
        **({"max_budget": BUDGET} if scope == "team" else {})})
    assert status == 200, team
    if scope == "team_membership":
        status, reply = call(server, "POST", "/team/member_update", {
            "team_id": team["team_id"], "user_id": user["user_id"],
            "max_budget_in_team": BUDGET})
        assert status == 200, reply
    status, key = call(server, "POST", "/key/generate", {
        "user_id": user["user_id"], "team_id": team["team_id"],
        **({"max_budget": BUDGET} if scope == "key" else {})})
    assert status == 200, key
    return Caller(key["key"], key["token"], user["user_id"], team["team_id"])


def reserve(server, gateway: str, caller: Caller, amount: float, **fields):
    """(status, answer, headers) of one /spend/reserve for the caller's key."""
    return send(server, "POST", "/spend/reserve",
                {"key": caller.key, "amount": amount} | fields, key=gateway)


def settle(server, gateway: str, reservation_id: str, spend: Decimal | float):
    return call(server, "POST", "/spend/settle",
                {"reservation_id": reservation_id, "spend": float(spend)}, key=gateway)


def concurrently(function, arguments: list) -> list:
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(function, arguments))


def usd(value) -> Decimal:
    """A USD amount of an answer, exactly as written in the JSON (json reads it as a float,
    whose repr is that text)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def scopes_now(server, gateway: str, caller: Caller) -> dict:
    """Every scope's counters as a reserve of 0 answers them (the hold of 0 is released)."""
    status, answer, _ = reserve(server, gateway, caller, 0)
    assert status == 200, answer
    status, released = call(server, "POST", "/spend/release",
                            {"reservation_id": answer["reservation_id"]}, key=gateway)
    assert status == 200 and released["state"] == "released", released
    return answer["scopes"]


def spend_on_admin_routes(server, caller: Caller) -> dict[str, Decimal]:
    """The spend of the caller's team, membership, user and key as /team/info, /user/info and
    /key/info show it."""
    status, team = call(server, "GET", f"/team/info?team_id={caller.team_id}")
    assert status == 200, team
    membership = next(m for m in team["team_memberships"] if m["user_id"] == caller.user_id)
    status, user = call(server, "GET", f"/user/info?user_id={caller.user_id}")
    assert status == 200, user
    status, key = call(server, "GET", f"/key/info?key={caller.token}")
    assert status == 200, key
    return {"team": usd(team["team_info"]["spend"]), "team_membership": usd(membership["spend"]),
            "user": usd(user["user_info"]["spend"]), "key": usd(key["info"]["spend"])}


@pytest.mark.parametrize("scope", ["team", "team_membership", "key"])
def test_a_budget_admits_exactly_fifty_of_200_concurrent_reserves_and_keeps_the_settled_sum(
        server, gateway, scope):
    # Given a key whose budget of 5.00 is on one scope only
    caller = new_caller(server, scope)

    # When 200 reserves of 0.10 arrive at once, from 48 clients
    replies = concurrently(lambda _: reserve(server, gateway, caller, AMOUNT), range(RESERVES))

    # Then exactly fifty are admitted, and the 150 others refused, naming that scope
    statuses = Counter(status for status, _, _ in replies)
    assert statuses == {200: ADMITTED, 429: RESERVES - ADMITTED}, statuses
    refusals = [answer["detail"] for status, answer, _ in replies if status == 429]
    assert {(d["type"], d["scope"], d["remaining"]) for d in refusals} == {
        ("budget_exceeded", scope, 0.0)}, refusals[:3]
    admitted = [answer for status, answer, _ in replies if status == 200]
    assert len({a["reservation_id"] for a in admitted}) == ADMITTED
    assert all(a["state"] == "held" for a in admitted)
    # by several worker processes at once, none of them the server itself
    workers = {int(headers["x-dev-worker"]) for status, _, headers in replies}
    assert 2 <= len(workers) <= WORKERS, workers
    assert server.process.pid not in workers
    # and the budget is exactly held, nothing spent
    held = scopes_now(server, gateway, caller)
    assert {name: (s["spend"], s["reserved"]) for name, s in held.items()} == {
        name: (0.0, BUDGET) for name in ("key", "user", "team", "team_membership")}
    assert held[scope]["remaining"] == 0.0

    # When the fifty are settled at once, each below its reservation
    pairs = list(zip(admitted, SETTLED, strict=True))
    settled = concurrently(lambda pair: settle(server, gateway, pair[0]["reservation_id"],
                                               pair[1]), pairs)

    # Then every settle is answered, and each scope's spend is the settled sum, to the cent,
    # with nothing reserved
    assert [(status, answer["state"]) for status, answer in settled] == \
        [(200, "settled")] * ADMITTED, settled
    total = sum(SETTLED)
    assert_spend(server, gateway, caller, total, scope)

    # And when ten of the settles are sent again, at once, nothing changes
    again = concurrently(lambda pair: settle(server, gateway, pair[0]["reservation_id"],
                                             pair[1]), pairs[::5])
    assert [(status, answer["state"]) for status, answer in again] == [(200, "settled")] * 10
    assert_spend(server, gateway, caller, total, scope)


def assert_spend(server, gateway: str, caller: Caller, total: Decimal, scope: str) -> None:
    scopes = scopes_now(server, gateway, caller)
    assert {name: (usd(s["spend"]), usd(s["reserved"])) for name, s in scopes.items()} == {
        name: (total, 0) for name in ("key", "user", "team", "team_membership")}, scopes
    assert usd(scopes[scope]["remaining"]) == Decimal(str(BUDGET)) - total
    assert spend_on_admin_routes(server, caller) == {
        name: total for name in ("key", "user", "team", "team_membership")}


def test_concurrent_settles_and_releases_of_the_same_reservations_count_once(server, gateway):
    # Given a team budget of 5.00 and ten reservations of 0.10 in it
    caller = new_caller(server, "team")
    replies = concurrently(lambda _: reserve(server, gateway, caller, AMOUNT), range(10))
    assert [status for status, _, _ in replies] == [200] * 10, replies
    ids = [answer["reservation_id"] for _, answer, _ in replies]

    # When each of the first five is settled (at 0.03) by three requests at once, and each of
    # the last five is released by two requests at once and settled by one
    racing = [("settle", rid) for rid in ids[:5] for _ in range(3)]
    racing += [(op, rid) for rid in ids[5:] for op in ("release", "release", "settle")]

    def send_one(job):
        op, rid = job
        body = {"reservation_id": rid} | ({"spend": 0.03} if op == "settle" else {})
        return job, *call(server, "POST", f"/spend/{op}", body, key=gateway)

    answers = concurrently(send_one, racing)

    # Then the first five are settled once each; each of the last five was either released (its
    # settle refused with 409) or settled (its releases answer the settled reservation)
    for (op, rid), status, answer in answers:
        assert status in (200, 409), (op, rid, status, answer)
    states = {}
    for (_, rid), status, answer in answers:
        if status == 200:
            states.setdefault(rid, set()).add(answer["state"])
    assert all(states[rid] == {"settled"} for rid in ids[:5]), states
    assert all(len(states[rid]) == 1 for rid in ids[5:]), states
    settled_late = sum(1 for rid in ids[5:] if states[rid] == {"settled"})
    for (op, rid), status, _ in answers:
        if status == 409:
            assert op == "settle" and states[rid] == {"released"}
    # and the team's spend is 0.03 per settled reservation, nothing reserved
    total = Decimal("0.03") * (5 + settled_late)
    scopes = scopes_now(server, gateway, caller)
    assert (usd(scopes["team"]["spend"]), scopes["team"]["reserved"]) == (total, 0.0)
    assert spend_on_admin_routes(server, caller)["team"] == total


def run_schedule(server) -> dict:
    """One run of the budget reset and lease schedule against the dev server, as
    `make reset-budgets` runs it (as of now); its JSON report."""
    env = {**os.environ, "PORT": server.url.rsplit(":", 1)[1],
           "RESET_NOW": datetime.now(UTC).isoformat()}
    env.pop("AWS_ENDPOINT_URL", None)  # found through the dev server's state file
    env.pop("TABLE_NAME", None)
    done = subprocess.run([sys.executable, "-m", "tests.support.resetbudgets"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], report
    return report


def test_a_lease_that_runs_out_is_charged_once_and_a_late_settle_corrects_it_once(
        server, gateway):
    # Given a reservation of 0.50 with a lease of one second, and one of 0.20 that is settled
    caller = new_caller(server, "team")
    status, leased, _ = reserve(server, gateway, caller, 0.5, ttl_seconds=1)
    assert status == 200, leased
    rid = leased["reservation_id"]
    status, other, _ = reserve(server, gateway, caller, 0.2)
    assert status == 200, other
    assert settle(server, gateway, other["reservation_id"], 0.15)[0] == 200

    # When the lease has run out and the schedule runs once
    wait_until_past(leased["expires_at"])
    report = run_schedule(server)

    # Then the lease's amount is charged as spend, nothing stays reserved
    assert (report["leases"], report["charged"]) == (1, 1), report
    team = scopes_now(server, gateway, caller)["team"]
    assert (team["spend"], team["reserved"]) == (0.65, 0.0), team

    # When the gateway settles it late, at its actual cost of 0.12
    status, late = settle(server, gateway, rid, 0.12)

    # Then the charge is replaced by the actual spend
    assert status == 200 and late["state"] == "settled", late
    assert (late["scopes"]["team"]["spend"], late["scopes"]["team"]["reserved"]) == (0.27, 0.0)
    # and settling it again counts nothing more
    status, again = settle(server, gateway, rid, 0.12)
    assert status == 200 and again["scopes"] == late["scopes"], again
    # nor does releasing it after the settle, nor another run of the schedule (the lease is
    # charged once, and not again once settled)
    status, released = call(server, "POST", "/spend/release", {"reservation_id": rid},
                            key=gateway)
    assert status == 200 and released["state"] == "settled", released
    assert released["scopes"] == late["scopes"]
    assert run_schedule(server)["charged"] == 0
    team = scopes_now(server, gateway, caller)["team"]
    assert (team["spend"], team["reserved"]) == (0.27, 0.0), team
    assert spend_on_admin_routes(server, caller) == {
        name: Decimal("0.27") for name in ("key", "user", "team", "team_membership")}


def wait_until_past(iso: str) -> None:
    """Sleep until the clock is past `iso` (an answer's timestamp, UTC) by a little."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.2)
