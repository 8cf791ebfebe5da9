"""Section 4: list pages at 100, 10,000 and 100,000 teams, side by side.

Three tables in one moto, bulk-loaded with the layer's own item builders (each team with its
default admin on the roster, every 7th in an organization, spends from 0 up), are measured
round-robin, so the machine's noise falls on all sizes alike. Per table and case: DynamoDB
requests (auth included) and the median time of the handler call. The target is the
ratio of the largest to the smallest table: ≤ 1.2× in requests and in time. Alias searches
read the alias word index: NEEDLES teams of every table have the word "needle", so that
search has as many matches at every size; "platform" matches a sixth of the teams (O(matches)),
and the substring fallback reads at most SCAN_ITEMS teams a request (flat past that many).
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
FEW_ROUNDS = 3  # the cases that grow (a search of a sixth of the teams)
TARGET = 1.2
NEEDLES = 20  # teams with the word "needle" in their alias, in every table
# What each case's figures should do as the table grows: stay flat (O(page)), grow with the
# matches of a search, grow with the teams, or stay flat once past the fallback's bound.
PAGE, MATCHES, BOUNDED = "page", "matches", "bounded"
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
        self.user_id = ""

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
        # Two alias words (the number is part of the second): two word entries to load.
        alias = f"{WORDS[n % 12]}-{WORDS[n * 5 % 12]}{n}"
        if n % max(1, level.teams // NEEDLES) == 1:
            alias = f"Needle-{alias}"
        values = {"team_id": team_id, "team_alias": alias,
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
    user_id = level.user_id = f"bench-lister-{uuid.uuid4().hex[:8]}"
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


def _cases(level: Level, master_key: str) -> list[tuple[str, str, str, dict, str]]:
    """(label, path, key, query, how it should scale)"""
    return [
        ("v2 page 1, created_at asc (master)", "/v2/team/list", master_key,
         {"page_size": "10"}, PAGE),
        ("v2 page by cursor, halfway (master)", "/v2/team/list", master_key,
         {"page_size": "10", "cursor": _middle_cursor(level)}, PAGE),
        ("v2 page 1, team_alias desc (master)", "/v2/team/list", master_key,
         {"page_size": "10", "sort_by": "team_alias", "sort_order": "desc"}, PAGE),
        ("v2 page 1, spend asc (master)", "/v2/team/list", master_key,
         {"page_size": "10", "sort_by": "spend"}, PAGE),
        ("v2 own teams (user key, in 3 teams)", "/v2/team/list", level.user_key,
         {"page_size": "10"}, PAGE),
        ("filter/ui page 1, newest first (master)", "/team/filter/ui", master_key,
         {"page_size": "50"}, PAGE),
        (f"v2 alias search 'needle' ({NEEDLES} matches) + exact total", "/v2/team/list",
         master_key, {"team_alias": "needle"}, PAGE),
        (f"v2 alias search 'need' by team_alias desc ({NEEDLES} matches)", "/v2/team/list",
         master_key, {"team_alias": "need", "sort_by": "team_alias", "sort_order": "desc"},
         PAGE),
        (f"filter/ui alias search 'needle' ({NEEDLES} matches)", "/team/filter/ui",
         master_key, {"team_alias": "needle"}, PAGE),
        ("v2 alias filter 'platform' + exact total", "/v2/team/list", master_key,
         {"team_alias": "platform"}, MATCHES),
        ("v2 alias substring fallback 'eedl' (bounded)", "/v2/team/list", master_key,
         {"team_alias": "eedl"}, BOUNDED),
        # /team/list of every team answers a 400 past 3 MB (use /v2/team/list, which pages):
        # from 10,000 teams on. A user's own teams is what it still answers at any size.
        ("/team/list?user_id= (a user in 3 teams)", "/team/list", level.user_key,
         {"user_id": level.user_id}, PAGE),
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
        grows = cases[LEVELS[0]][number][4] == MATCHES
        for round_ in range(-1, FEW_ROUNDS if grows else ROUNDS):  # -1: warm-up
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
    return {"labels": labels, "scales": {c[0]: c[4] for c in cases[LEVELS[0]]},
            "ms": {k: statistics.median(v) for k, v in samples.items()},
            "requests": requests, "seed_seconds": seeded, "levels": levels}


def report(measured: dict) -> str:
    rows = []
    small, large = LEVELS[0], LEVELS[-1]
    for label in measured["labels"]:
        reqs = [measured["requests"][(label, n)] for n in LEVELS]
        ms = [measured["ms"][(label, n)] for n in LEVELS]
        req_ratio, ms_ratio = reqs[-1] / reqs[0], ms[-1] / ms[0]
        scales = measured["scales"][label]
        if scales == MATCHES:
            target, ok = f"grows with {scales}", ""
        elif scales == BOUNDED:  # flat once the scan reads its bound: the two larger tables
            target = f"≤ {TARGET}× ({large:,} vs {LEVELS[-2]:,})"
            ok = verdict(reqs[-1] / reqs[-2] <= TARGET and ms[-1] / ms[-2] <= TARGET)
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
