"""Section 1: DynamoDB requests per route, auth included, for the master key and for a
non-admin user key (an internal_user who is admin of the team, key from /key/generate)."""

import uuid
from dataclasses import dataclass, field

from bench.dynamo_calls import CallRecorder
from bench.handlers import Handlers
from bench.tables import render, verdict

BIG_TEAM = "POST /team/delete (300 members, 150 keys)"
BIG_MEMBERS, BIG_KEYS = 300, 150
ADD_NEW = "POST /team/member_add (a new user)"
ADD_KNOWN = "POST /team/member_add (an existing user)"
BULK_ADD = "POST /team/bulk_member_add (2 new users)"
V2_LIST = "GET /v2/team/list"
V2_NEXT = "GET /v2/team/list (next page by cursor)"
LIST_PAGES = frozenset({V2_LIST, V2_NEXT, "GET /team/filter/ui", "GET /key/list",
                        "GET /user/list"})
ROUTES = ("GET /health/liveliness", "POST /team/new", "GET /team/info", "GET /team/members",
          "POST /team/update",
          "POST /team/block", "POST /team/unblock", ADD_NEW, ADD_KNOWN, BULK_ADD,
          "POST /team/member_update", "POST /team/member_delete", "POST /team/model/add",
          "POST /team/model/delete", "GET /team/permissions_list",
          "POST /team/permissions_update", "GET /team/list", V2_LIST, V2_NEXT,
          "GET /team/filter/ui",
          "GET /team/available", "POST /user/new",
          "GET /user/info", "POST /user/update", "GET /user/list", "POST /user/delete",
          "POST /key/generate", "GET /key/info", "GET /key/list", "POST /key/update",
          "POST /key/regenerate",
          "POST /spend/track",
          "GET /audit", "POST /key/delete",
          "POST /team/delete", BIG_TEAM)
# Routes a user key may not call (docs/api.md): measured with the master key only.
MASTER_ONLY = frozenset({"GET /user/list", "POST /user/delete",
                         "POST /team/new", "POST /user/new", BIG_TEAM, "GET /team/filter/ui",
                         "POST /spend/track", "GET /audit"})


@dataclass
class Fixture:
    """What the scenario created and section 3 reuses (kept in memory, never printed)."""

    user_id: str = ""
    user_key: str = ""
    team_id: str = ""
    other_user_id: str = field(default_factory=lambda: f"bench-member-{uuid.uuid4().hex[:8]}")


@dataclass
class Scenario:
    handlers: Handlers
    recorder: CallRecorder
    master_key: str
    fixture: Fixture = field(default_factory=Fixture)
    counts: dict = field(default_factory=dict)

    def key_of(self, caller: str) -> str:
        return self.master_key if caller == "master" else self.fixture.user_key

    def measure(self, label: str, caller: str, *, body=None, query=None):
        method, path = label.split(" (")[0].split(" ", 1)
        self.recorder.start()
        try:
            reply = self.handlers.call(method, path, key=self.key_of(caller), body=body,
                                       query=query)
        finally:
            counts = self.recorder.stop()
        self.counts.setdefault(label, {"master": None, "user": None})[caller] = counts
        return reply

    def setup(self, method: str, path: str, body=None, *, caller: str = "master"):
        return self.handlers.call(method, path, key=self.key_of(caller), body=body)

    def new_team(self, alias: str, members: list[dict]) -> str:
        body = {"team_alias": alias, "members_with_roles": members}
        return self.setup("POST", "/team/new", body)["team_id"]

    def new_key(self, caller: str, **fields) -> str:
        return self.setup("POST", "/key/generate", fields, caller=caller)["token"]


def run(handlers: Handlers, recorder: CallRecorder, master_key: str) -> Scenario:
    """Every row but the big team's (see `run_big_team_delete`)."""
    scenario = Scenario(handlers, recorder, master_key)
    for step in (_users_and_health, _teams, _team_changes, _reads, _keys, _members,
                 _small_team_delete, _user_delete):
        step(scenario)
    return scenario


def run_big_team_delete(scenario: Scenario) -> None:
    """Separate, so the warm section can run before the table grows by ~1,000 items."""
    _big_team_delete(scenario)


def _users_and_health(s: Scenario) -> None:
    s.fixture.user_id = f"bench-user-{uuid.uuid4().hex[:8]}"
    s.measure("POST /user/new", "master",
              body={"user_id": s.fixture.user_id, "user_role": "internal_user"})
    s.fixture.user_key = s.setup("POST", "/key/generate", {"user_id": s.fixture.user_id})["key"]
    for caller in ("master", "user"):
        s.measure("GET /health/liveliness", caller)


def _teams(s: Scenario) -> None:
    """The measured team (the user is its admin, plus one new member) and 4 more: 5 teams."""
    members = [{"user_id": s.fixture.user_id, "role": "admin"},
               {"user_id": s.fixture.other_user_id, "role": "user"}]
    reply = s.measure("POST /team/new", "master",
                      body={"team_alias": "bench-main", "members_with_roles": members})
    s.fixture.team_id = reply["team_id"]
    for n in range(4):
        joined = [{"user_id": s.fixture.user_id, "role": "user"}] if n < 2 else []
        s.new_team(f"bench-team-{n}", joined)


def _team_changes(s: Scenario) -> None:
    team = {"team_id": s.fixture.team_id}
    for n, caller in enumerate(("master", "user")):
        # The alias: a team admin may change it (the team's budget and limits are admins' only)
        s.measure("POST /team/update", caller, body=team | {"team_alias": f"bench-main-{n}"})
        s.measure("POST /team/block", caller, body=team)
        s.measure("POST /team/unblock", caller, body=team)


def _reads(s: Scenario) -> None:
    s.measure("GET /team/info", "master", query={"team_id": s.fixture.team_id})
    s.measure("GET /team/info", "user", query={"team_id": s.fixture.team_id})
    s.measure("GET /team/members", "user", query={"team_id": s.fixture.team_id})
    s.measure("GET /team/list", "master")
    s.measure("GET /team/list", "user", query={"user_id": s.fixture.user_id})
    for caller in ("master", "user"):
        first = s.measure(V2_LIST, caller, query={"page_size": "2"})
        s.measure(V2_NEXT, caller, query={"page_size": "2", "cursor": first["next_cursor"]})
    s.measure("GET /team/filter/ui", "master")
    s.measure("GET /team/available", "master")  # none configured: one BatchGetItem at most
    s.measure("GET /team/available", "user")
    s.measure("GET /user/info", "master", query={"user_id": s.fixture.user_id})
    s.measure("GET /user/info", "user")
    for caller in ("master", "user"):  # the user changes their own metadata
        s.measure("POST /user/update", caller,
                  body={"user_id": s.fixture.user_id, "metadata": {"bench": caller}})
    s.measure("GET /user/list", "master", query={"page_size": "25"})


def _keys(s: Scenario) -> None:
    """A team key for the user, generated, read and deleted by each caller."""
    for caller in ("master", "user"):
        owner = {"user_id": s.fixture.user_id} if caller == "master" else {}
        token = s.measure("POST /key/generate", caller,
                          body=owner | {"team_id": s.fixture.team_id})["token"]
        s.measure("GET /key/info", caller, query={"key": token})
        s.measure("GET /key/list", caller, query={"team_id": s.fixture.team_id})
        s.measure("POST /key/update", caller, body={"key": token, "key_alias": f"b-{caller}"})
        first, token = token, s.measure("POST /key/regenerate", caller,
                                        body={"key": token})["token"]
        if caller == "master":  # admins only
            s.measure("POST /spend/track", caller, body={"token": token, "spend": 0.01})
            s.measure("GET /audit", caller, query={"object_id": first})  # its stable id
        s.measure("POST /key/delete", caller, body={"keys": [token]})


def _members(s: Scenario) -> None:
    """On a team of its own (the user its admin), so that the measured team stays as it was
    for section 3: add, update, delete a member; add and delete a model."""
    team_id = s.new_team("bench-members", [{"user_id": s.fixture.user_id, "role": "admin"}])
    team = {"team_id": team_id}
    for n, caller in enumerate(("master", "user")):
        new_id = f"bench-joiner-{uuid.uuid4().hex[:8]}"
        s.measure(ADD_NEW, caller, body=team | {"member": {"user_id": new_id}})
        known = s.setup("POST", "/user/new", {"user_role": "internal_user"})["user_id"]
        s.measure(ADD_KNOWN, caller, body=team | {"member": {"user_id": known}})
        s.measure(BULK_ADD, caller, body=team | {"members": [
            {"user_id": f"bench-bulk-{uuid.uuid4().hex[:8]}"} for _ in range(2)]})
        member = team | {"user_id": new_id}
        s.measure("POST /team/member_update", caller, body=member | {"max_budget_in_team": 10 + n})
        s.measure("POST /team/member_delete", caller, body=member)
        s.measure("POST /team/model/add", caller, body=team | {"models": [f"bench-model-{n}"]})
        s.measure("POST /team/model/delete", caller, body=team | {"models": [f"bench-model-{n}"]})
        s.measure("GET /team/permissions_list", caller, query=team)
        routes = ["/key/info", "/key/list"] + (["/key/delete"] if n == 0 else [])
        s.measure("POST /team/permissions_update", caller,
                  body=team | {"team_member_permissions": routes})


def _small_team_delete(s: Scenario) -> None:
    """A team of 2 members (+ the master's default admin) and 1 key, per caller."""
    for caller in ("master", "user"):
        members = [{"user_id": s.fixture.user_id, "role": "admin"},
                   {"user_id": s.fixture.other_user_id, "role": "user"}]
        team_id = s.new_team(f"bench-small-{caller}", members)
        s.new_key("master", user_id=s.fixture.user_id, team_id=team_id)
        s.measure("POST /team/delete", caller, body={"team_ids": [team_id]})


def _user_delete(s: Scenario) -> None:
    """A user with a key, in a team of the fixture's: one transaction."""
    user_id = f"bench-gone-{uuid.uuid4().hex[:8]}"
    s.setup("POST", "/user/new", {"user_id": user_id})
    s.new_team("bench-user-delete", [{"user_id": user_id, "role": "user"}])
    s.measure("POST /user/delete", "master", body={"user_ids": [user_id]})


def _big_team_delete(s: Scenario) -> None:
    # /team/new with the master key makes default_user_id the first member.
    team_id = s.new_team("bench-big", [])
    _write_members_and_keys(team_id, BIG_MEMBERS - 1, BIG_KEYS)
    s.measure(BIG_TEAM, "master", body={"team_ids": [team_id]})


def _write_members_and_keys(team_id: str, members: int, keys: int) -> None:
    """Bulk-load with the layer's own item builders (setup only, not measured)."""
    from teamledger.domain.keys import new_key
    from teamledger.domain.memberships import member_values
    from teamledger.errors import BadRequest
    from teamledger.store import stores
    from teamledger.timestamps import to_iso, utcnow

    from bench.local_dynamo import write_puts

    now = to_iso(utcnow())
    user_ids = [f"bench-big-{n:03d}" for n in range(members)]
    tx = stores().transaction()  # collects the stores' items; written in batches, not committed
    for n, user_id in enumerate(user_ids):
        stores().members.put_new(tx, member_values(team_id, user_id, None, "user", now, n),
                                 refusal=BadRequest("exists"))
    for n in range(keys):
        stores().keys.put_new(tx, new_key(user_id=user_ids[n % members], team_id=team_id,
                                          now=now)[1])
    write_puts(tx)


# --- report ------------------------------------------------------------------------------

def _target(label: str, counts: dict) -> tuple[str, bool | None]:
    if label in LIST_PAGES:
        return "list page ≤ 3", counts["reads"] <= 3 and counts["writes"] == 0
    if label == "GET /team/list":
        return "grows with data (4.)", None
    if label.startswith("GET "):
        return "reads ≤ 2", counts["reads"] <= 2 and counts["writes"] == 0
    # The request budget, as written: reads ≤ 2 and writes ≤ 3 (auth included)
    return "reads ≤ 2, writes ≤ 3", counts["reads"] <= 2 and counts["writes"] <= 3


def _operations(counts: dict) -> str:
    text = ", ".join(f"{op} {n}" for op, n in counts["operations"].items()) or "-"
    retries = counts["http_attempts"] - counts["total"]
    return text + (f" (+{retries} retried)" if retries else "")


def report(s: Scenario) -> str:
    rows = []
    for label in ROUTES:
        for caller in ("master", "user"):
            counts = s.counts.get(label, {}).get(caller)
            if counts is None:
                reason = "n/a" if label in MASTER_ONLY else "not run"
                rows.append([label, caller, reason, reason, reason, "", "", ""])
                continue
            target, ok = _target(label, counts)
            rows.append([label, caller, counts["reads"], counts["writes"], counts["total"],
                         target, "" if ok is None else verdict(ok), _operations(counts)])
    headers = ["route", "caller", "reads", "writes", "total", "target", "ok?", "operations"]
    return render(headers, rows)


def results(s: Scenario) -> dict:
    def public(counts: dict | None) -> dict | None:
        if counts is None:
            return None
        return {k: counts[k] for k in ("reads", "writes", "total", "operations")}

    return {label: {caller: public(s.counts.get(label, {}).get(caller))
                    for caller in ("master", "user")} for label in ROUTES}
