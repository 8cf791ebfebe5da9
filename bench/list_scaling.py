"""Section 4: list pages at 100, 10,000 and 100,000 teams, side by side.

Three tables in one moto, bulk-loaded with the layer's own item builders (each team with its
default admin on the roster, every 7th in an organization, spends from 0 up), are measured
round-robin, so the machine's noise falls on all sizes alike. Per table and case: DynamoDB
requests (auth included) and the median time of the handler call. The target is the
ratio of the largest to the smallest table: ≤ 1.2× in requests and in time.
"""

import statistics
import time
import uuid

from bench.dynamo_calls import CallRecorder
from bench.handlers import Handlers, checked
from bench.tables import render, verdict

LEVELS = (100, 10_000, 100_000)
DUE = 1_000  # teams whose budget period has ended (all of them in a smaller table)
DUE_AT = "2026-01-01T00:00:00.000000Z"
ROUNDS = 15  # round-robin rounds of the O(page) cases
FEW_ROUNDS = 3  # the cases that read every team (filtered totals, /team/list)
TARGET = 1.2
WORDS = ("alpha", "beta", "gamma", "delta", "platform", "search", "billing", "ml", "infra",
         "growth", "mobile", "data")


class Level:
    """One table of `teams` teams, with a user (internal_user) in 3 of them."""

    def __init__(self, teams: int) -> None:
        self.teams = teams
        self.table = f"teamledger-bench-{teams}"
        self.team_ids: list[str] = []
        self.created: list[str] = []
        self.user_key = ""

    def use(self) -> None:
        import os

        from teamledger.config import settings

        os.environ["TABLE_NAME"] = self.table
        settings.cache_clear()


def _seed(level: Level, handlers: Handlers, master_key: str) -> None:
    import boto3
    from teamledger.domain.memberships import member_values
    from teamledger.errors import BadRequest
    from teamledger.store import keys as table_keys
    from teamledger.store import stores

    from bench.local_dynamo import write_puts
    from tests.support.template import create_table

    create_table(boto3.client("dynamodb"), level.table)
    level.use()
    base = time.time() - level.teams  # one second apart: created order is index order
    tx = stores().transaction()  # collects the stores' items; written in batches, not committed
    for n in range(level.teams):
        team_id = f"team-{uuid.uuid4().hex[:12]}"
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + n)) + ".000000Z"
        values = {"team_id": team_id, "team_alias": f"{WORDS[n % 12]}-{WORDS[n * 5 % 12]}-{n}",
                  "organization_id": "org-bench" if n % 7 == 0 else None,
                  "metadata": {}, "models": [], "blocked": False,
                  "spend": float(n % 13) * 0.75, "created_at": created, "updated_at": created}
        if n % max(1, level.teams // DUE) == 0:  # due for the reset (section 5), spread out
            values |= {"budget_duration": "1d", "budget_anchor": DUE_AT,
                       "budget_reset_at": DUE_AT, "max_budget": 100.0}
        admin = member_values(team_id, "default_user_id", None, "admin", created)
        stores().teams.put_new(tx, values, [admin], refusal=BadRequest("exists"))
        level.team_ids.append(team_id)
        level.created.append(created)
        if len(tx) >= 500 or n == level.teams - 1:
            write_puts(tx)
            tx = stores().transaction()
    tx = stores().transaction()
    tx.put(table_keys.team_counter_shard(0) | {"team_count": level.teams})
    write_puts(tx)
    user_id = f"bench-lister-{uuid.uuid4().hex[:8]}"
    level.user_key = handlers.call("POST", "/user/new", key=master_key,
                                   body={"user_id": user_id})["key"]
    for team_id in level.team_ids[:: max(1, level.teams // 3)][:3]:
        handlers.call("POST", "/team/member_add", key=master_key,
                      body={"team_id": team_id, "member": {"user_id": user_id}})


def _middle_cursor(level: Level) -> str:
    """The next_cursor a client holds halfway through the created order, pages of 10."""
    from teamledger.domain import team_lists
    from teamledger.store import keys as table_keys

    middle = level.teams // 2
    team_id = level.team_ids[middle - 1]
    after = table_keys.created_order(team_id, level.created[middle - 1])
    return team_lists.Cursor(team_lists.Order(), after, team_id, middle // 10 + 1).encode()


def _cases(level: Level, master_key: str) -> list[tuple[str, str, str, dict, bool]]:
    """(label, path, key, query, reads every team?)"""
    return [
        ("v2 page 1, created_at asc (master)", "/v2/team/list", master_key,
         {"page_size": "10"}, False),
        ("v2 page by cursor, halfway (master)", "/v2/team/list", master_key,
         {"page_size": "10", "cursor": _middle_cursor(level)}, False),
        ("v2 page 1, team_alias desc (master)", "/v2/team/list", master_key,
         {"page_size": "10", "sort_by": "team_alias", "sort_order": "desc"}, False),
        ("v2 page 1, spend asc (master)", "/v2/team/list", master_key,
         {"page_size": "10", "sort_by": "spend"}, False),
        ("v2 own teams (user key, in 3 teams)", "/v2/team/list", level.user_key,
         {"page_size": "10"}, False),
        ("filter/ui page 1, newest first (master)", "/team/filter/ui", master_key,
         {"page_size": "50"}, False),
        ("v2 alias filter 'platform' + exact total", "/v2/team/list", master_key,
         {"team_alias": "platform"}, True),
        ("/team/list, every team (master)", "/team/list", master_key, {}, True),
    ]


def run(handlers: Handlers, recorder: CallRecorder, master_key: str) -> dict:
    levels = [Level(n) for n in LEVELS]
    started = time.perf_counter()
    for level in levels:
        _seed(level, handlers, master_key)
    seeded = time.perf_counter() - started
    cases = {level.teams: _cases(level, master_key) for level in levels}
    labels = [case[0] for case in cases[LEVELS[0]]]
    samples = {(label, n): [] for label in labels for n in LEVELS}
    requests = {}
    for number, label in enumerate(labels):
        every_team = cases[LEVELS[0]][number][4]
        for round_ in range(-1, FEW_ROUNDS if every_team else ROUNDS):  # -1: warm-up
            for level in levels:
                _, path, key, query, _ = cases[level.teams][number]
                level.use()
                handler, event, context = handlers.prepare("GET", path, key=key, query=query)
                recorder.start()
                began = time.perf_counter()
                result = handler(event, context)
                elapsed = time.perf_counter() - began
                counts = recorder.stop()
                checked("GET", path, result)
                if round_ >= 0:
                    samples[(label, level.teams)].append(elapsed * 1000)
                    requests[(label, level.teams)] = counts["total"]
    return {"labels": labels, "every_team": {c[0]: c[4] for c in cases[LEVELS[0]]},
            "ms": {k: statistics.median(v) for k, v in samples.items()},
            "requests": requests, "seed_seconds": seeded, "levels": levels}


def report(measured: dict) -> str:
    rows = []
    small, large = LEVELS[0], LEVELS[-1]
    for label in measured["labels"]:
        reqs = [measured["requests"][(label, n)] for n in LEVELS]
        ms = [measured["ms"][(label, n)] for n in LEVELS]
        req_ratio, ms_ratio = reqs[-1] / reqs[0], ms[-1] / ms[0]
        if measured["every_team"][label]:
            target, ok = "grows with teams", ""
        else:
            target = f"≤ {TARGET}× ({large:,} vs {small:,})"
            ok = verdict(req_ratio <= TARGET and ms_ratio <= TARGET)
        rows.append([label, *reqs, f"{req_ratio:.2f}×", *(f"{m:.1f}" for m in ms),
                     f"{ms_ratio:.2f}×", target, ok])
    headers = ["case", *(f"req {n:,}" for n in LEVELS), "req ratio",
               *(f"ms {n:,}" for n in LEVELS), "ms ratio", "target", "ok?"]
    return render(headers, rows)


def results(measured: dict) -> dict:
    return {label: {str(n): {"requests": measured["requests"][(label, n)],
                             "median_ms": round(measured["ms"][(label, n)], 2)}
                    for n in LEVELS} for label in measured["labels"]}
