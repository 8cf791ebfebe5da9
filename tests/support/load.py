"""`make load`: a mixed workload from concurrent clients against a dev server of its own, for a
fixed time, then a full consistency check of everything the server acknowledged.

    LOAD_CLIENTS=16 LOAD_SECONDS=30 .venv/bin/python -m tests.support.load

Environment read: LOAD_CLIENTS (16: client threads, one keep-alive connection each),
LOAD_SECONDS (30: how long they send), LOAD_SEED (1: the operation mix of each client), WORKERS
(4: the dev server's handler processes, as `make dev` has them).

It starts `make dev`'s server as a process on a free port (`dev_server_process`, a moto of its
own), so the table is fresh and the team total can be checked exactly; a running `make dev` is
never touched. Setup (untimed): 4 hot teams and 4 hot users, each user in two of the teams with
a key for each. Then every client loops over a weighted mix until the time is up: team/new,
user/new, key/generate, member_add (mostly to the hot teams, at once from every client),
team/info, v2/team/list (cursor paging), team/list?user_id=, user/info, spend/track (0.01, 0.02
or 0.05 on a hot key), and the gateway's per-call path: a reserve of a random amount on one of 3
budget teams (4 keys each, every client on all three, so each team's counters are hot), then a
settle of a random actual cost below it, or (1 in 7) a release. Some budgets are small enough to
run out early: team 0's own, a membership budget in team 1, a key budget in team 2. Ids are
chosen so that no request is expected to fail: any non-2xx is an error, but for a reserve's 429
(a budget ran out: the expected answer, counted apart). Each client keeps a ledger of what was
acknowledged (200) and of what is in doubt (a 5xx or a broken connection: it may or may not have
been applied); reserves (with a request_id), settles and releases in doubt are sent again, as
they are idempotent, so a doubt only remains if no answer ever came.

The check then reads back every team, user, key and membership: acknowledged but absent, or
present but never sent (nor in doubt), or spend not equal to the acknowledged sum to the cent,
or not exactly one `created` audit record, is a lost update. So is, for each budget team, a spend
that differs from the sum of its acknowledged settles by 1e-9 USD or more (money is kept in
units of 1e-10 USD: the sums are exact), or anything left reserved in any scope of its keys once
every reservation is settled or released. Exit status 1 on any error or lost update.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from bench.tables import render
from tests.support.devprocess import dev_server_process
from tests.support.devserver import workers_from_environment

DEFAULT_CLIENTS = 16
DEFAULT_SECONDS = 30.0
DEFAULT_USER = "default_user_id"  # the master key's user: admin of every team it creates
HOT_TEAMS = 4
HOT_SHARE = 0.7  # of member adds go to a hot team, where every client adds at once
AMOUNTS = (Decimal("0.01"), Decimal("0.02"), Decimal("0.05"))
V2_PAGES = 3  # pages a reader walks with next_cursor
ROSTER_LIMIT = 500  # members a list page shows per team (docs/architecture.md, Lists)
TRANSPORT_ERROR = 0  # the status recorded when no HTTP answer came
TIMEOUT_S = 60
# The per-call path: budget teams whose counters every client moves at once.
# Each team's max_budget: team 0's runs out after a few calls (sooner while several are held at
# once); in teams 1 and 2, the first membership's and the first key's do.
BUDGET_TEAMS = (Decimal("0.5"), Decimal("100"), Decimal("100"))
KEYS_PER_BUDGET_TEAM = 4  # one user each, with a key in the team
SMALL_BUDGET = Decimal("0.25")  # team 1's first membership, team 2's first key
UNIT = Decimal("1e-10")  # USD: the service keeps money in these units
RESERVE_UNITS = (10**8, 2 * 10**9)  # a reservation: 0.01 to 0.2 USD, to the unit
RELEASE_SHARE = 1 / 7  # of reservations are released (the call failed) instead of settled
SETTLE_TOLERANCE = Decimal("1e-9")  # a team's spend vs its acknowledged settles
RESENDS = 3  # times an idempotent per-call request in doubt is sent again
BUDGET_EXCEEDED = 429
RESERVE = "POST /spend/reserve"
REFUSED = "POST /spend/reserve 429"  # its latencies apart from the admitted reserves'


class Http:
    """One keep-alive connection, reopened after a transport error. JSON numbers with a
    fraction are parsed as Decimal, so spend compares exactly."""

    def __init__(self, base_url: str, key: str):
        """`key`: what every request is sent with (the master key, or the gateway's)."""
        self.host = urllib.parse.urlsplit(base_url).netloc
        self.headers = {"authorization": f"Bearer {key}",
                        "content-type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, timeout=TIMEOUT_S)
        try:
            self.connection.request(method, path, None if body is None else json.dumps(body),
                                    self.headers)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            return TRANSPORT_ERROR, None
        try:
            return response.status, json.loads(payload, parse_float=Decimal)
        except ValueError:
            return response.status, None


def query(path: str, **params: Any) -> str:
    return f"{path}?{urllib.parse.urlencode(params)}"


def in_doubt(status: int) -> bool:
    """No answer or a 5xx: the change may have been committed or not."""
    return status == TRANSPORT_ERROR or status >= 500


def token_of(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass
class Ledger:
    """What the server acknowledged (200), and what may have happened (in doubt)."""

    teams: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    keys: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    spend: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    doubt: set[tuple[str, ...]] = field(default_factory=set)
    doubt_spend: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    # The per-call path, per budget team: its keys' tokens (setup), the sum of the settles
    # acknowledged, what may have been settled (in doubt), what may still be held (in doubt).
    budget_teams: dict[str, list[str]] = field(default_factory=dict)
    settled: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    doubt_settled: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    doubt_held: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    # Counts: reserves admitted, refused (by the scope whose budget ran out), settles, releases
    calls: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)

    def add_team(self, team_id: str) -> None:
        self.teams.add(team_id)
        self.members[team_id].add(DEFAULT_USER)

    def settle(self, team_id: str, token: str, spend: Decimal) -> None:
        self.settled[team_id] += spend
        self.spend[token] += spend  # the key's, and so its user's, membership's and team's
        self.calls["settle"] += 1

    def merge(self, other: Ledger) -> None:
        self.teams |= other.teams
        self.users |= other.users
        for team_id, users in other.members.items():
            self.members[team_id] |= users
        self.keys |= other.keys
        for token, amount in other.spend.items():
            self.spend[token] += amount
        self.doubt |= other.doubt
        for token, amount in other.doubt_spend.items():
            self.doubt_spend[token] += amount
        self.budget_teams |= other.budget_teams
        for mine, theirs in ((self.settled, other.settled),
                             (self.doubt_settled, other.doubt_settled),
                             (self.doubt_held, other.doubt_held)):
            for team_id, amount in theirs.items():
                mine[team_id] += amount
        self.calls += other.calls
        self.refused += other.refused


@dataclass
class Timings:
    """Latencies (seconds) and non-2xx statuses per operation (but the `expected` ones: a
    reserve's 429 when a budget runs out is an answer, not an error)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, operation: str, seconds: float, status: int,
               expected: tuple[int, ...] = ()) -> None:
        self.latencies[operation].append(seconds)
        if not 200 <= status < 300 and status not in expected:
            self.errors[operation][status] += 1

    def merge(self, other: Timings) -> None:
        for operation, values in other.latencies.items():
            self.latencies[operation] += values
        for operation, statuses in other.errors.items():
            self.errors[operation] += statuses


@dataclass
class Shared:
    """What every client picks from; lists are only appended to (atomic in CPython)."""

    hot_teams: list[str]
    hot_keys: list[str]
    teams: list[str]
    users: list[str]
    budget_teams: dict[str, list[str]] = field(default_factory=dict)  # team -> key tokens
    gateway_key: str = ""  # the gateway's key (`allowed_routes: ["/spend/*"]`) for /spend/*


class SetupFailed(RuntimeError):
    """A setup request was not answered 200."""


def prepare(http: Http, ledger: Ledger) -> Shared:
    """The hot teams and users: user i is in teams i and i+1, with a key for each, so a key's
    spend adds up in its user, its team and the membership, and each total has two sources."""

    def ok(method: str, path: str, body: Any) -> Any:
        status, reply = http.call(method, path, body)
        if status != 200:
            raise SetupFailed(f"{method} {path} answered {status}: {reply}")
        return reply

    hot_teams, hot_users, hot_keys = [], [], []
    for index in range(HOT_TEAMS):
        team_id = str(uuid.uuid4())
        ok("POST", "/team/new", {"team_id": team_id, "team_alias": f"load-hot-{index}"})
        ledger.add_team(team_id)
        hot_teams.append(team_id)
        user_id = f"load-hot-user-{index}"
        reply = ok("POST", "/user/new", {"user_id": user_id})
        ledger.users.add(user_id)
        ledger.keys[token_of(reply["key"])] = (user_id, None)
        hot_users.append(user_id)
    for index, user_id in enumerate(hot_users):
        for team_id in (hot_teams[index], hot_teams[(index + 1) % HOT_TEAMS]):
            ok("POST", "/team/member_add", {"team_id": team_id, "member": {"user_id": user_id}})
            ledger.members[team_id].add(user_id)
            key = ok("POST", "/key/generate", {"user_id": user_id, "team_id": team_id})
            ledger.keys[key["token"]] = (user_id, team_id)
            hot_keys.append(key["token"])
    gateway = ok("POST", "/key/generate", {"allowed_routes": ["/spend/*"]})
    ledger.keys[gateway["token"]] = (None, None)
    return Shared(hot_teams, hot_keys, list(hot_teams), list(hot_users),
                  prepare_budget_teams(ok, ledger), gateway["key"])


def prepare_budget_teams(ok: Callable[[str, str, Any], Any],
                         ledger: Ledger) -> dict[str, list[str]]:
    """The per-call path's teams, each with its budget and KEYS_PER_BUDGET_TEAM users, each
    with a key in it; team 1's first membership and team 2's first key have a small budget of
    their own, so that every kind of budget runs out during the run."""
    teams: dict[str, list[str]] = {}
    for index, budget in enumerate(BUDGET_TEAMS):
        team_id = str(uuid.uuid4())
        ok("POST", "/team/new", {"team_id": team_id, "team_alias": f"load-budget-{index}",
                                 "max_budget": float(budget)})
        ledger.add_team(team_id)
        teams[team_id] = []
        for member in range(KEYS_PER_BUDGET_TEAM):
            user_id = f"load-budget-user-{index}-{member}"
            small = {"max_budget_in_team": float(SMALL_BUDGET)} if (index, member) == (1, 0) \
                else {}
            ok("POST", "/team/member_add",
               {"team_id": team_id, "member": {"user_id": user_id}} | small)
            ledger.members[team_id].add(user_id)
            ledger.users.add(user_id)
            small = {"max_budget": float(SMALL_BUDGET)} if (index, member) == (2, 0) else {}
            key = ok("POST", "/key/generate", {"user_id": user_id, "team_id": team_id} | small)
            ledger.keys[key["token"]] = (user_id, team_id)
            teams[team_id].append(key["token"])
    ledger.budget_teams = dict(teams)
    return teams


class Client:
    """One thread of the workload: a weighted random mix of operations until the deadline."""

    def __init__(self, index: int, http: Http, shared: Shared, seed: int,
                 gateway: Http | None = None):
        self.index = index
        self.http = http
        self.gateway = gateway  # a connection with the gateway's key, for /spend/*
        self.shared = shared
        self.rng = random.Random(seed * 1_000 + index)
        self.ledger = Ledger()
        self.timings = Timings()
        self.serial = itertools.count()
        # The users this client created: only this client adds them to teams, so it knows
        # which teams they are in and never sends an add that must be refused.
        self.teams_of: dict[str, set[str]] = {}
        self.failure: Exception | None = None

    def run(self, deadline: float) -> None:
        operations = list(MIX)
        weights = list(MIX.values())
        try:
            while time.monotonic() < deadline:
                self.rng.choices(operations, weights)[0](self, deadline)
        except Exception as error:
            self.failure = error  # an answer of an unexpected shape: the run is not valid
            raise

    def request(self, method: str, path: str, body: Any = None, operation: str = ""):
        """One timed call, counted under `operation` (default: method and path, no query)."""
        started = time.perf_counter()
        status, reply = self.http.call(method, path, body)
        operation = operation or f"{method} {path.partition('?')[0]}"
        self.timings.record(operation, time.perf_counter() - started, status)
        return status, reply

    def per_call(self, path: str, body: dict) -> tuple[int, Any]:
        """A /spend/* call with the gateway's key, timed; sent again while its answer is in
        doubt (every such call is idempotent: a reserve carries its request_id). A reserve's
        429 is timed apart (REFUSED), and is no error."""
        gateway = self.gateway or self.http
        status, reply = TRANSPORT_ERROR, None
        for _ in range(1 + RESENDS):
            started = time.perf_counter()
            status, reply = gateway.call("POST", path, body)
            operation = f"POST {path}"
            if operation == RESERVE and status == BUDGET_EXCEEDED:
                operation = REFUSED
            self.timings.record(operation, time.perf_counter() - started, status,
                                expected=(BUDGET_EXCEEDED,) if operation == REFUSED else ())
            if not in_doubt(status):
                break
        return status, reply

    def new_user_id(self, kind: str) -> str:
        return f"load-{kind}-{self.index}-{next(self.serial)}"

    def own_user(self, acknowledged: set[str]) -> None:
        for user_id in acknowledged - self.teams_of.keys():
            self.teams_of[user_id] = set()
            self.shared.users.append(user_id)

    # --- writes ---------------------------------------------------------------------------

    def team_new(self, deadline: float) -> None:
        team_id = str(uuid.uuid4())
        status, _ = self.request("POST", "/team/new",
                                 {"team_id": team_id, "team_alias": f"load-{team_id[:8]}"})
        if status == 200:
            self.ledger.add_team(team_id)
            self.shared.teams.append(team_id)
        elif in_doubt(status):
            self.ledger.doubt.add(("team", team_id))

    def user_new(self, deadline: float) -> None:
        user_id = self.new_user_id("user")
        status, reply = self.request("POST", "/user/new", {"user_id": user_id})
        if status == 200:
            self.ledger.users.add(user_id)
            self.ledger.keys[token_of(reply["key"])] = (user_id, None)
            self.own_user({user_id})
        elif in_doubt(status):
            self.ledger.doubt |= {("user", user_id), ("keys-of", user_id)}

    def member_add(self, deadline: float) -> None:
        hot = self.rng.random() < HOT_SHARE
        team_id = self.rng.choice(self.shared.hot_teams if hot else self.shared.teams)
        user_ids = self.members_to_add(team_id)
        members = [{"user_id": user_id} for user_id in user_ids]
        status, _ = self.request("POST", "/team/member_add",
                                 {"team_id": team_id,
                                  "member": members if len(members) > 1 else members[0]})
        if status == 200:
            self.ledger.members[team_id] |= set(user_ids)
            self.ledger.users |= set(user_ids)
            self.own_user(set(user_ids))
            for user_id in user_ids:
                self.teams_of[user_id].add(team_id)
        elif in_doubt(status):
            self.ledger.doubt |= {("member", team_id, user_id) for user_id in user_ids}
            self.ledger.doubt |= {("user", user_id) for user_id in user_ids}

    def members_to_add(self, team_id: str) -> list[str]:
        """One of this client's users not yet in the team (half the time), else 1 or 3 new
        users, which the add creates."""
        if self.teams_of and self.rng.random() < 0.5:
            for user_id in self.rng.sample(list(self.teams_of), min(3, len(self.teams_of))):
                if team_id not in self.teams_of[user_id] \
                        and ("member", team_id, user_id) not in self.ledger.doubt:
                    return [user_id]
        return [self.new_user_id("member") for _ in range(3 if self.rng.random() < 0.2 else 1)]

    def key_generate(self, deadline: float) -> None:
        if not self.teams_of:
            return self.user_new(deadline)
        user_id = self.rng.choice(list(self.teams_of))
        teams = sorted(self.teams_of[user_id])
        team_id = self.rng.choice(teams) if teams else None
        status, reply = self.request("POST", "/key/generate",
                                     {"user_id": user_id, "team_id": team_id})
        if status == 200:
            self.ledger.keys[reply["token"]] = (user_id, team_id)
        elif in_doubt(status):
            self.ledger.doubt |= {("keys-of", user_id), ("keys-of", str(team_id))}

    def spend_track(self, deadline: float) -> None:
        token = self.rng.choice(self.shared.hot_keys)
        amount = self.rng.choice(AMOUNTS)
        status, _ = self.request("POST", "/spend/track", {"token": token, "spend": float(amount)})
        if status == 200:
            self.ledger.spend[token] += amount
        elif in_doubt(status):
            self.ledger.doubt_spend[token] += amount

    def reserve_settle(self, deadline: float) -> None:
        """The gateway's per-call path on a budget team: a reserve of a random amount, then a
        settle of a random actual cost below it, or a release."""
        team_id = self.rng.choice(list(self.shared.budget_teams))
        token = self.rng.choice(self.shared.budget_teams[team_id])
        amount = Decimal(self.rng.randint(*RESERVE_UNITS)) * UNIT
        status, reply = self.per_call("/spend/reserve", {
            "token": token, "amount": float(amount),
            "request_id": f"load-{self.index}-{next(self.serial)}"})
        if status == BUDGET_EXCEEDED:
            if reply["detail"]["type"] != "budget_exceeded":
                raise RuntimeError(f"a reserve answered 429 {reply}")
            self.ledger.refused[reply["detail"]["scope"]] += 1
            return
        if status != 200:
            if in_doubt(status):  # no answer to any send: it may hold `amount`
                self.ledger.doubt_held[team_id] += amount
            return
        if reply["state"] != "held":
            raise RuntimeError(f"a new reservation answered {reply}")
        self.ledger.calls["reserve"] += 1
        rid = reply["reservation_id"]
        if self.rng.random() < RELEASE_SHARE:
            status, reply = self.per_call("/spend/release", {"reservation_id": rid})
            if status == 200:
                self.ledger.calls["release"] += 1
            else:  # in doubt, or refused: it may still be held
                self.ledger.doubt_held[team_id] += amount
            return
        spend = (amount * Decimal(self.rng.random())).quantize(UNIT, rounding=ROUND_DOWN)
        status, reply = self.per_call("/spend/settle", {"reservation_id": rid,
                                                        "spend": float(spend)})
        if status == 200:
            self.ledger.settle(team_id, token, spend)
        else:  # settled or still held: which, nobody knows
            self.ledger.doubt_settled[team_id] += spend
            self.ledger.doubt_spend[token] += spend
            self.ledger.doubt_held[team_id] += amount

    # --- reads ----------------------------------------------------------------------------

    def team_info(self, deadline: float) -> None:
        team_id = self.rng.choice(self.shared.teams)
        self.request("GET", query("/team/info", team_id=team_id))

    def team_list_v2(self, deadline: float) -> None:
        params = {"page_size": self.rng.choice((10, 25)),
                  "sort_by": self.rng.choice(("created_at", "team_alias"))}
        for _ in range(V2_PAGES):
            status, reply = self.request("GET", query("/v2/team/list", **params))
            cursor = reply.get("next_cursor") if status == 200 else None
            if not cursor or time.monotonic() >= deadline:
                return
            params["cursor"] = cursor

    def team_list_of_user(self, deadline: float) -> None:
        user_id = self.rng.choice(self.shared.users)
        self.request("GET", query("/team/list", user_id=user_id),
                     operation="GET /team/list?user_id=")

    def user_info(self, deadline: float) -> None:
        user_id = self.rng.choice(self.shared.users)
        self.request("GET", query("/user/info", user_id=user_id))


# The workload: operation -> weight. Spend and member adds dominate, as in a busy proxy.
MIX: dict[Callable[[Client, float], None], int] = {
    Client.team_new: 6,
    Client.user_new: 6,
    Client.key_generate: 5,
    Client.member_add: 20,
    Client.team_info: 10,
    Client.team_list_v2: 8,
    Client.team_list_of_user: 7,
    Client.user_info: 8,
    Client.spend_track: 30,
    Client.reserve_settle: 25,
}


ROW_ORDER = ["POST /team/new", "POST /user/new", "POST /key/generate", "POST /team/member_add",
             "POST /spend/track", RESERVE, REFUSED, "POST /spend/settle", "POST /spend/release",
             "GET /team/info", "GET /v2/team/list", "GET /team/list?user_id=", "GET /user/info"]


@dataclass
class Expected:
    """The state the ledger implies, indexed the ways the check reads it."""

    ledger: Ledger
    teams_of_user: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    keys_of_team: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    keys_of_user: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        for team_id, users in self.ledger.members.items():
            for user_id in users - {DEFAULT_USER}:
                self.teams_of_user[user_id].add(team_id)
        for token, (user_id, team_id) in self.ledger.keys.items():
            self.keys_of_user[str(user_id)].add(token)
            self.keys_of_team[str(team_id)].add(token)

    def spend(self, tokens: Iterable[str]) -> tuple[Decimal, Decimal]:
        """(acknowledged, in doubt) spend of these keys."""
        tokens = list(tokens)
        return (sum((self.ledger.spend.get(t, Decimal(0)) for t in tokens), Decimal(0)),
                sum((self.ledger.doubt_spend.get(t, Decimal(0)) for t in tokens), Decimal(0)))

    def doubted(self, *fact: str) -> bool:
        return tuple(fact) in self.ledger.doubt

    def keys_of(self, team_id: str | None = None, user_id: str | None = None) -> set[str]:
        """The keys of a team, of a user, or of both (a membership)."""
        tokens = self.keys_of_team.get(team_id, set()) if team_id else None
        if user_id is None:
            return tokens or set()
        mine = self.keys_of_user.get(user_id, set())
        return mine if tokens is None else tokens & mine


def spend_matches(actual: Any, acknowledged: Decimal, doubt: Decimal) -> bool:
    actual = Decimal(str(actual))
    return actual == acknowledged or (doubt > 0 and acknowledged <= actual <= acknowledged + doubt)


class Verifier:
    """Reads everything back over HTTP (in parallel) and collects lost updates, each once per
    fact (a member missing from three views is one lost member)."""

    def __init__(self, base_url: str, master_key: str, ledger: Ledger):
        self.base_url = base_url
        self.master_key = master_key
        self.expected = Expected(ledger)
        self.ledger = ledger
        self.lost: dict[tuple[str, str], str] = {}
        self.errors: Counter = Counter()
        self.requests = 0
        # Per budget team: its spend minus its acknowledged settles (USD), as read back.
        self.settle_differences: dict[str, Decimal] = {}
        self.scopes_checked = 0  # scopes whose reserved was read back (each key's four)
        self._local = threading.local()
        self._lock = threading.Lock()

    def get(self, path: str, may_be_absent: bool = False, method: str = "GET",
            body: Any = None) -> tuple[int, Any]:
        """A read of the check; any status but 200 is a check error, except a 404 that the
        caller counts as a lost object."""
        if not hasattr(self._local, "http"):
            self._local.http = Http(self.base_url, self.master_key)
        status, reply = self._local.http.call(method, path, body)
        with self._lock:
            self.requests += 1
            if status != 200 and not (may_be_absent and status == 404):
                self.errors[status] += 1
        return status, reply

    def lose(self, kind: str, subject: str, detail: str) -> None:
        with self._lock:
            self.lost.setdefault((kind, subject), detail)

    def run(self, workers: int) -> None:
        ledger = self.ledger
        audited = [(team_id, "LiteLLM_TeamTable") for team_id in ledger.teams]
        audited += [(f"{team_id}:{user_id}", "LiteLLM_TeamMembership")
                    for team_id, users in ledger.members.items() for user_id in users]
        audited += [(user_id, "LiteLLM_UserTable") for user_id in ledger.users]
        audited += [(token, "LiteLLM_VerificationToken") for token in ledger.keys]
        jobs: list[tuple[Callable[..., None], tuple]] = [(self.check_team_list, ())]
        jobs += [(self.check_team, (team_id,)) for team_id in ledger.teams]
        jobs += [(self.check_user, (user_id,)) for user_id in ledger.users]
        jobs += [(self.check_key, (token,)) for token in ledger.keys]
        jobs += [(self.check_audit, audit) for audit in audited]
        jobs += [(self.check_budget_team, (team_id,)) for team_id in ledger.budget_teams]
        jobs += [(self.check_held, (team_id, token))
                 for team_id, tokens in ledger.budget_teams.items() for token in tokens]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(check, *args) for check, args in jobs]:
                future.result()

    def compare(self, kind: str, where: str, found: set[str], expected: set[str],
                doubted: Callable[[str], bool]) -> None:
        """Acknowledged but not found, and found but neither acknowledged nor in doubt."""
        for missing in expected - found:
            self.lose(kind, f"{where}/{missing}", f"{kind} {missing} missing from {where}")
        for extra in found - expected:
            if not doubted(extra):
                self.lose(f"extra {kind}", f"{where}/{extra}", f"{kind} {extra} in {where}, "
                          "never acknowledged")

    def check_team_list(self) -> None:
        """Every team on `/v2/team/list`'s pages with its roster, and the exact total."""
        params: dict[str, Any] = {"page_size": 100}
        teams: dict[str, dict] = {}
        total = None
        while True:
            status, reply = self.get(query("/v2/team/list", **params))
            if status != 200:
                return
            total = reply["total"] if total is None else total
            teams |= {team["team_id"]: team for team in reply["teams"]}
            if not reply["next_cursor"]:
                break
            params["cursor"] = reply["next_cursor"]
        self.compare("team", "/v2/team/list", set(teams), self.ledger.teams,
                     lambda t: self.expected.doubted("team", t))
        doubt = sum(1 for fact in self.ledger.doubt if fact[0] == "team")
        if not len(self.ledger.teams) <= total <= len(self.ledger.teams) + doubt:
            self.lose("team total", "/v2/team/list", f"total {total}, "
                      f"{len(self.ledger.teams)} teams created")
        for team_id in self.ledger.teams & set(teams):
            self.check_roster(team_id, {m["user_id"] for m in teams[team_id]["members_with_roles"]})

    def check_roster(self, team_id: str, roster: set[str]) -> None:
        expected = self.ledger.members[team_id]
        if len(expected) <= ROSTER_LIMIT:
            self.compare("member", f"roster of {team_id}", roster, expected,
                         lambda u: self.expected.doubted("member", team_id, u))
        elif len(roster) != ROSTER_LIMIT or roster - expected:
            self.lose("member", f"roster of {team_id}",
                      f"roster of {len(roster)}, not {ROSTER_LIMIT} of the members")

    def check_team(self, team_id: str) -> None:
        status, reply = self.get(query("/team/info", team_id=team_id), may_be_absent=True)
        if status == 404:
            return self.lose("team", team_id, f"team {team_id}: /team/info answers 404")
        if status != 200:
            return
        where = f"/team/info of {team_id}"
        in_doubt = self.expected.doubted("team", team_id)
        self.compare("member", where,
                     {m["user_id"] for m in reply["team_info"]["members_with_roles"]},
                     self.ledger.members[team_id],
                     lambda u: in_doubt or self.expected.doubted("member", team_id, u))
        memberships = {m["user_id"]: m for m in reply["team_memberships"]}
        self.compare("member", where, set(memberships), self.ledger.members[team_id],
                     lambda u: in_doubt or self.expected.doubted("member", team_id, u))
        self.compare("key", where, {key["token"] for key in reply["keys"]},
                     self.expected.keys_of(team_id=team_id),
                     lambda _: self.expected.doubted("keys-of", team_id))
        self.check_spend("team", team_id, reply["team_info"]["spend"],
                         self.expected.keys_of(team_id=team_id))
        for user_id, membership in memberships.items():
            self.check_spend("membership", f"{team_id}:{user_id}", membership["spend"],
                             self.expected.keys_of(team_id=team_id, user_id=user_id))

    def check_user(self, user_id: str) -> None:
        status, reply = self.get(query("/user/info", user_id=user_id), may_be_absent=True)
        if status == 404:
            return self.lose("user", user_id, f"user {user_id}: /user/info answers 404")
        if status != 200:
            return
        expected_teams = self.expected.teams_of_user.get(user_id, set())

        def doubted(team_id: str) -> bool:
            return self.expected.doubted("member", team_id, user_id)

        self.compare("member", f"/user/info of {user_id}",
                     set(reply["user_info"]["teams"]), expected_teams, doubted)
        self.compare("key", f"/user/info of {user_id}", {key["token"] for key in reply["keys"]},
                     self.expected.keys_of(user_id=user_id),
                     lambda _: self.expected.doubted("keys-of", user_id))
        self.check_spend("user", user_id, reply["user_info"]["spend"],
                         self.expected.keys_of(user_id=user_id))
        status, teams = self.get(query("/team/list", user_id=user_id))
        if status == 200:
            self.compare("member", f"/team/list?user_id={user_id}",
                         {team["team_id"] for team in teams}, expected_teams, doubted)

    def check_key(self, token: str) -> None:
        status, reply = self.get(query("/key/info", key=token), may_be_absent=True)
        if status == 404:
            return self.lose("key", token, f"key {token[:12]}…: /key/info answers 404")
        if status != 200:
            return
        owners = (reply["info"]["user_id"], reply["info"]["team_id"])
        if owners != self.ledger.keys[token]:
            self.lose("key", token, f"key {token[:12]}… belongs to {owners}, "
                      f"generated for {self.ledger.keys[token]}")
        self.check_spend("key", token, reply["info"]["spend"], [token])

    def check_spend(self, kind: str, subject: str, actual: Any, tokens: Iterable[str]) -> None:
        acknowledged, doubt = self.expected.spend(tokens)
        if not spend_matches(actual, acknowledged, doubt):
            self.lose("spend", f"{kind} {subject}",
                      f"{kind} {subject[:40]}: spend {actual}, acknowledged {acknowledged}")

    def check_budget_team(self, team_id: str) -> None:
        """The team's spend is the sum of the settles acknowledged (within SETTLE_TOLERANCE;
        a settle in doubt may or may not be in it)."""
        status, reply = self.get(query("/team/info", team_id=team_id))
        if status == 200:
            self.check_settled(team_id, reply["team_info"]["spend"], "/team/info")

    def check_settled(self, team_id: str, actual: Any, where: str) -> None:
        settled = self.ledger.settled.get(team_id, Decimal(0))
        doubt = self.ledger.doubt_settled.get(team_id, Decimal(0))
        difference = Decimal(str(actual)) - settled
        with self._lock:
            if abs(difference) >= abs(self.settle_differences.get(team_id, Decimal(0))):
                self.settle_differences[team_id] = difference
        if not -SETTLE_TOLERANCE < difference < doubt + SETTLE_TOLERANCE:
            self.lose("settled spend", f"{where} of {team_id}",
                      f"budget team {team_id}: spend {actual} on {where}, settles acknowledged "
                      f"{settled}" + (f" (+ up to {doubt} in doubt)" if doubt else ""))

    def check_held(self, team_id: str, token: str) -> None:
        """Nothing stays reserved in any scope of a budget team's key once every reservation
        is settled or released (unless one is in doubt), as a reserve of 0 shows it; its team's
        spend there is the settled sum too. The reserve of 0 is released."""
        status, reply = self.get("/spend/reserve", method="POST",
                                 body={"token": token, "amount": 0})
        if status != 200:
            return
        self.get("/spend/release", method="POST",
                 body={"reservation_id": reply["reservation_id"]})
        doubt = self.ledger.doubt_held.get(team_id, Decimal(0))
        for scope, state in reply["scopes"].items():
            with self._lock:
                self.scopes_checked += 1
            if not 0 <= Decimal(str(state["reserved"])) <= doubt:
                self.lose("reserved", f"{scope} of {token}",
                          f"budget team {team_id}: {scope} of key {token[:12]}… still "
                          f"reserves {state['reserved']}, with {doubt} in doubt")
        if "team" in reply["scopes"]:
            self.check_settled(team_id, reply["scopes"]["team"]["spend"], "/spend/reserve")

    def check_audit(self, object_id: str, table_name: str) -> None:
        status, reply = self.get(query("/audit", object_id=object_id, limit=10))
        if status != 200:
            return
        records = [(r["action"], r["table_name"]) for r in reply["data"]]
        if records != [("created", table_name)]:
            self.lose("audit", object_id, f"audit of {object_id[:60]}: {records}, "
                      f"not one ('created', '{table_name}')")


@dataclass
class Result:
    clients: int
    seconds: float
    timings: Timings
    ledger: Ledger
    verifier: Verifier
    check_seconds: float

    @property
    def errors(self) -> int:
        run = sum(sum(c.values()) for c in self.timings.errors.values())
        return run + sum(self.verifier.errors.values())

    @property
    def lost_updates(self) -> int:
        return len(self.verifier.lost)

    def report(self) -> str:
        return "\n".join([
            render(["operation", "requests", "rps", "p50 ms", "p99 ms", "errors"],
                   self.rows()),
            "",
            self.check_line(),
            self.per_call_line(),
            f"errors: {self.errors}",
            f"lost updates: {self.lost_updates}{self.lost_breakdown()}",
            *(f"  {detail}" for detail in list(self.verifier.lost.values())[:20]),
        ])

    def rows(self) -> list[list[object]]:
        operations = sorted(self.timings.latencies, key=ROW_ORDER.index)
        rows = [self.row(op, self.timings.latencies[op], self.timings.errors[op])
                for op in operations]
        everything = [s for op in operations for s in self.timings.latencies[op]]
        all_errors = sum((self.timings.errors[op] for op in operations), Counter())
        return [*rows, self.row("total", everything, all_errors)]

    def row(self, operation: str, latencies: list[float], errors: Counter) -> list[object]:
        ordered = sorted(latencies)
        return [operation, len(ordered), f"{len(ordered) / self.seconds:.1f}",
                f"{percentile(ordered, 50) * 1000:.1f}", f"{percentile(ordered, 99) * 1000:.1f}",
                describe_errors(errors)]

    def check_line(self) -> str:
        ledger = self.ledger
        memberships = sum(len(users) for users in ledger.members.values())
        return (f"consistency check: {len(ledger.teams)} teams, {memberships} memberships, "
                f"{len(ledger.users)} users, {len(ledger.keys)} keys "
                f"({sum(1 for t in ledger.spend if ledger.spend[t])} with spend), "
                f"{memberships + len(ledger.teams) + len(ledger.users) + len(ledger.keys)} "
                f"audit trails; {self.verifier.requests} requests in {self.check_seconds:.1f} s, "
                f"errors: {describe_errors(self.verifier.errors)}")

    def per_call_line(self) -> str:
        ledger = self.ledger
        refused = ", ".join(f"{scope}: {n}" for scope, n in sorted(ledger.refused.items()))
        differences = self.verifier.settle_differences.values()
        largest = max((abs(d) for d in differences), default=Decimal(0))
        doubt = sum(ledger.doubt_settled.values()) + sum(ledger.doubt_held.values())
        return (f"per-call path: {len(ledger.budget_teams)} budget teams, "
                f"{sum(len(t) for t in ledger.budget_teams.values())} keys; "
                f"{ledger.calls['reserve']} reserves held, {sum(ledger.refused.values())} refused "
                f"with 429 ({refused or 'none'}), {ledger.calls['settle']} settled "
                f"({sum(ledger.settled.values())} USD), {ledger.calls['release']} released; "
                f"spend - settled: {'exact' if not largest else f'at most {largest} USD'} in "
                f"{len(self.verifier.settle_differences)} teams; reserved after: read in "
                f"{self.verifier.scopes_checked} scopes"
                + (f"; in doubt: {doubt} USD" if doubt else ""))

    def lost_breakdown(self) -> str:
        kinds = Counter(kind for kind, _ in self.verifier.lost)
        return f" ({', '.join(f'{k}: {n}' for k, n in sorted(kinds.items()))})" if kinds else ""


def percentile(ordered: list[float], percent: float) -> float:
    """Nearest rank."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def describe_errors(errors: Counter) -> str:
    count = sum(errors.values())
    if not count:
        return "0"
    parts = ", ".join(f"{'no answer' if status == TRANSPORT_ERROR else status}: {n}"
                      for status, n in sorted(errors.items()))
    return f"{count} ({parts})"


def run(base_url: str, master_key: str, clients: int = DEFAULT_CLIENTS,
        seconds: float = DEFAULT_SECONDS, seed: int = 1) -> Result:
    """Setup, the workload for `seconds`, then the check. Needs a fresh server (the team total
    is compared with the teams created)."""
    ledger = Ledger()
    shared = prepare(Http(base_url, master_key), ledger)
    workers = [Client(index, Http(base_url, master_key), shared, seed,
                      Http(base_url, shared.gateway_key)) for index in range(clients)]
    started = time.monotonic()
    threads = [threading.Thread(target=client.run, args=(started + seconds,),
                                name=f"load-client-{client.index}") for client in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures := [client.failure for client in workers if client.failure]:
        raise RuntimeError(f"{len(failures)} load client(s) failed") from failures[0]
    timings = Timings()
    for client in workers:
        ledger.merge(client.ledger)
        timings.merge(client.timings)
    verifier = Verifier(base_url, master_key, ledger)
    check_started = time.monotonic()
    verifier.run(workers=clients)
    return Result(clients, elapsed, timings, ledger, verifier, time.monotonic() - check_started)


def main() -> int:
    clients = int(os.environ.get("LOAD_CLIENTS") or DEFAULT_CLIENTS)
    seconds = float(os.environ.get("LOAD_SECONDS") or DEFAULT_SECONDS)
    seed = int(os.environ.get("LOAD_SEED") or 1)
    log_dir = Path(tempfile.mkdtemp(prefix="teamledger-load-"))
    try:
        with dev_server_process(log_dir) as server:
            print(f"make load: {clients} clients for {seconds:g} s against a dev server of its "
                  f"own on {server.url} ({workers_from_environment()} workers, seed {seed})",
                  flush=True)
            result = run(server.url, server.master_key, clients, seconds, seed)
    except (pytest.fail.Exception, SetupFailed) as error:
        print(f"load: {error}", file=sys.stderr)
        return 1
    print(result.report())
    if result.errors or result.lost_updates:
        print(f"dev server log: {log_dir / 'devserver.log'}")
        return 1
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
