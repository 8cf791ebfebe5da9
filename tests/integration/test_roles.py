"""The API's role table (docs/api.md), as one matrix: route x target x caller.

Keys are real: users from /user/new, keys from /key/generate. Each row lists the status every
kind of caller gets, in the order of CALLERS.
"""

import uuid

import pytest

from tests.support.client import MASTER_KEY

CALLERS = ("master", "admin", "viewer", "team_admin", "member", "team_key", "other_user",
           "user_viewer", "no_identity")
USER_ROLES = {"admin": "proxy_admin", "viewer": "proxy_admin_viewer",
              "team_admin": "internal_user", "member": "internal_user",
              "other_user": "internal_user", "user_viewer": "internal_user_viewer"}


class World:
    """Every kind of caller, a team they share, a team and a user they don't."""

    def __init__(self, api):
        self.api = api
        self.keys = {"master": MASTER_KEY}
        self.user_ids = {"master": "default_user_id"}
        for caller, role in USER_ROLES.items():
            user = api.new_user(role)
            self.keys[caller], self.user_ids[caller] = user["key"], user["user_id"]
        self.team = self.own_team()
        self.other_team = api.new_team()["team_id"]
        self.member_only_team = self.members_team()
        self.keys["team_key"] = api.new_key(team_id=self.team)["key"]
        self.keys["no_identity"] = api.new_key()["key"]
        self.bystander = api.new_user()

    def own_team(self) -> str:
        return self.api.new_team(members_with_roles=[
            {"user_id": self.user_ids["team_admin"], "role": "admin"},
            {"user_id": self.user_ids["member"], "role": "user"}])["team_id"]

    def blocked_team(self, by: str) -> str:
        """A fresh own team, blocked by `by` (a caller)."""
        team_id = self.own_team()
        self.api.ok(self.api.post("/team/block", {"team_id": team_id}, key=self.keys[by]))
        return team_id

    def deleted_team(self) -> str:
        """A fresh own team, deleted (by the master key)."""
        team_id = self.own_team()
        self.api.ok(self.api.post("/team/delete", {"team_ids": [team_id]}))
        return team_id

    def members_team(self) -> str:
        """A team with the member in it as a plain member, and not the team admin."""
        return self.api.new_team(
            members_with_roles=[{"user_id": self.user_ids["member"]}])["team_id"]

    def reservation(self) -> str:
        """A reservation held on a fresh key (made with the master key)."""
        token = self.api.new_key(user_id=self.bystander["user_id"])["token"]
        reply = self.api.post("/spend/reserve", {"token": token, "amount": 0.01})
        return str(self.api.ok(reply)["reservation_id"])

    def own_key(self, caller: str) -> str:
        """A key the caller owns (a fresh one; callers without a user get a stranger's)."""
        user_id = self.user_ids.get(caller) if caller != "master" else None
        return self.api.new_key(user_id=user_id or self.bystander["user_id"])["token"]


@pytest.fixture(scope="module")
def world(api):
    return World(api)


def unknown() -> str:
    return f"unknown-{uuid.uuid4().hex[:8]}"


# (id, method, path, request(world, caller) -> {"body"|"query": ...}, statuses by CALLERS)
MATRIX = [
    ("team_new", "POST", "/team/new", lambda w, c: {"body": {"team_alias": "m"}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_info own", "GET", "/team/info", lambda w, c: {"query": {"team_id": w.team}},
     "200 200 200 200 200 200 403 403 403"),
    ("team_info other", "GET", "/team/info", lambda w, c: {"query": {"team_id": w.other_team}},
     "200 200 200 403 403 403 403 403 403"),
    ("team_info unknown", "GET", "/team/info", lambda w, c: {"query": {"team_id": unknown()}},
     "404 404 404 403 403 403 403 403 403"),
    ("team_members own", "GET", "/team/members", lambda w, c: {"query": {"team_id": w.team}},
     "200 200 200 200 200 200 403 403 403"),
    ("team_members other", "GET", "/team/members",
     lambda w, c: {"query": {"team_id": w.other_team}}, "200 200 200 403 403 403 403 403 403"),
    ("team_members unknown", "GET", "/team/members",
     lambda w, c: {"query": {"team_id": unknown()}}, "404 404 404 403 403 403 403 403 403"),
    ("team_list all", "GET", "/team/list", lambda w, c: {},
     "200 200 200 401 401 401 401 401 401"),
    ("team_list self", "GET", "/team/list",
     lambda w, c: {"query": {"user_id": w.user_ids.get(c, w.bystander["user_id"])}},
     "200 200 200 200 200 401 200 200 401"),
    ("team_list someone else", "GET", "/team/list",
     lambda w, c: {"query": {"user_id": w.bystander["user_id"]}},
     "200 200 200 401 401 401 401 401 401"),
    # v2: everyone with an identity gets a page; who does not read everything, of their teams
    ("team_list_v2", "GET", "/v2/team/list", lambda w, c: {},
     "200 200 200 200 200 200 200 200 403"),
    ("team_list_v2 someone else", "GET", "/v2/team/list",
     lambda w, c: {"query": {"user_id": w.bystander["user_id"]}},
     "200 200 200 200 200 200 200 200 403"),
    ("team_list_v2 other team", "GET", "/v2/team/list",
     lambda w, c: {"query": {"team_id": w.other_team}},
     "200 200 200 200 200 200 200 200 403"),
    ("team_filter_ui", "GET", "/team/filter/ui", lambda w, c: {},
     "200 200 200 403 403 403 403 403 403"),
    ("spend_track", "POST", "/spend/track",
     lambda w, c: {"body": {"token": w.own_key(c), "spend": 0.01}},
     "200 200 403 403 403 403 403 403 403"),
    # The per-call routes: admins, and keys limited to /spend/* (test_reservations.py)
    ("spend_reserve", "POST", "/spend/reserve",
     lambda w, c: {"body": {"token": w.own_key(c), "amount": 0.01}},
     "200 200 403 403 403 403 403 403 403"),
    ("spend_settle", "POST", "/spend/settle",
     lambda w, c: {"body": {"reservation_id": w.reservation(), "spend": 0.01}},
     "200 200 403 403 403 403 403 403 403"),
    ("spend_release", "POST", "/spend/release",
     lambda w, c: {"body": {"reservation_id": w.reservation()}},
     "200 200 403 403 403 403 403 403 403"),
    ("audit all", "GET", "/audit", lambda w, c: {},
     "200 200 200 403 403 403 403 403 403"),
    ("audit own team", "GET", "/audit", lambda w, c: {"query": {"object_id": w.team}},
     "200 200 200 403 403 403 403 403 403"),
    # A team's timeline: its team admins too, not its plain members nor its key
    ("audit team_id own", "GET", "/audit", lambda w, c: {"query": {"team_id": w.team}},
     "200 200 200 200 403 403 403 403 403"),
    ("audit team_id other", "GET", "/audit", lambda w, c: {"query": {"team_id": w.other_team}},
     "200 200 200 403 403 403 403 403 403"),
    ("audit team_id unknown", "GET", "/audit", lambda w, c: {"query": {"team_id": unknown()}},
     "404 404 404 403 403 403 403 403 403"),
    # A deleted team's history: admins and viewers; its former team admin is no member now
    ("audit team_id deleted", "GET", "/audit",
     lambda w, c: {"query": {"team_id": w.deleted_team()}},
     "200 200 200 403 403 403 403 403 403"),
    ("team_available", "GET", "/team/available", lambda w, c: {},
     "200 200 200 200 200 200 200 200 403"),
    ("user_new", "POST", "/user/new", lambda w, c: {"body": {}},
     "200 200 403 403 403 403 403 403 403"),
    ("user_info self", "GET", "/user/info", lambda w, c: {"query": {}},
     "200 200 200 200 200 403 200 200 403"),
    ("user_info someone else", "GET", "/user/info",
     lambda w, c: {"query": {"user_id": w.bystander["user_id"]}},
     "200 200 200 403 403 403 403 403 403"),
    ("user_info unknown", "GET", "/user/info", lambda w, c: {"query": {"user_id": unknown()}},
     "404 404 404 403 403 403 403 403 403"),
    ("key_generate self", "POST", "/key/generate", lambda w, c: {"body": {}},
     "200 200 403 200 200 403 200 403 403"),
    ("key_generate own team", "POST", "/key/generate", lambda w, c: {"body": {"team_id": w.team}},
     "200 200 403 200 403 403 403 403 403"),
    ("key_generate other team", "POST", "/key/generate",
     lambda w, c: {"body": {"team_id": w.other_team}},
     "200 200 403 403 403 403 403 403 403"),
    ("key_generate unknown team", "POST", "/key/generate",
     lambda w, c: {"body": {"team_id": unknown()}},
     "404 404 403 403 403 403 403 403 403"),
    ("key_generate for someone else", "POST", "/key/generate",
     lambda w, c: {"body": {"user_id": w.bystander["user_id"]}},
     "200 200 403 403 403 403 403 403 403"),
    ("key_info own", "GET", "/key/info", lambda w, c: {"query": {"key": w.own_key(c)}},
     "200 200 200 200 200 403 200 200 403"),
    ("key_info someone else's", "GET", "/key/info",
     lambda w, c: {"query": {"key": w.own_key("bystander")}},
     "200 200 200 403 403 403 403 403 403"),
    ("key_info unknown", "GET", "/key/info", lambda w, c: {"query": {"key": "0" * 64}},
     "404 404 404 403 403 403 403 403 403"),
    # Any key reads itself, by the raw key or with no query (who am I: the master key, no
    # stored key, answers as default_user_id then)
    ("key_info itself", "GET", "/key/info", lambda w, c: {"query": {"key": w.keys[c]}},
     "404 200 200 200 200 200 200 200 200"),
    ("key_info itself, no query", "GET", "/key/info", lambda w, c: {},
     "200 200 200 200 200 200 200 200 200"),
    ("key_delete own", "POST", "/key/delete", lambda w, c: {"body": {"keys": [w.own_key(c)]}},
     "200 200 403 200 200 403 200 403 403"),
    ("key_delete someone else's", "POST", "/key/delete",
     lambda w, c: {"body": {"keys": [w.own_key("bystander")]}},
     "200 200 403 403 403 403 403 403 403"),
    ("key_delete own team's key", "POST", "/key/delete",
     lambda w, c: {"body": {"keys": [w.api.new_key(team_id=w.team)["token"]]}},
     "200 200 403 200 403 403 403 403 403"),
    ("key_delete unknown", "POST", "/key/delete", lambda w, c: {"body": {"keys": ["0" * 64]}},
     "404 404 403 403 403 403 403 403 403"),
    # A team's keys: its admins, and its plain members per team_member_permissions (by
    # default /key/info and /key/list, not /key/delete: the row above)
    ("key_info own team's key", "GET", "/key/info",
     lambda w, c: {"query": {"key": w.api.new_key(team_id=w.team)["token"]}},
     "200 200 200 200 200 403 403 403 403"),
    ("key_info other team's key", "GET", "/key/info",
     lambda w, c: {"query": {"key": w.api.new_key(team_id=w.other_team)["token"]}},
     "200 200 200 403 403 403 403 403 403"),
    # Everyone with a role lists keys (those they may see: test_key_list.py)
    ("key_list", "GET", "/key/list", lambda w, c: {},
     "200 200 200 200 200 403 200 200 403"),
    ("key_list other team", "GET", "/key/list", lambda w, c: {"query": {"team_id": w.other_team}},
     "200 200 200 200 200 403 200 200 403"),
    ("team_permissions_list own", "GET", "/team/permissions_list",
     lambda w, c: {"query": {"team_id": w.team}},
     "200 200 200 200 403 403 403 403 403"),
    ("team_permissions_list other", "GET", "/team/permissions_list",
     lambda w, c: {"query": {"team_id": w.other_team}},
     "200 200 200 403 403 403 403 403 403"),
    ("team_permissions_list unknown", "GET", "/team/permissions_list",
     lambda w, c: {"query": {"team_id": unknown()}},
     "404 404 404 403 403 403 403 403 403"),
    ("team_permissions_update own", "POST", "/team/permissions_update",
     lambda w, c: {"body": {"team_id": w.own_team(), "team_member_permissions": ["/key/info"]}},
     "200 200 403 200 403 403 403 403 403"),
    ("team_permissions_update other", "POST", "/team/permissions_update",
     lambda w, c: {"body": {"team_id": w.api.new_team()["team_id"],
                            "team_member_permissions": ["/key/info"]}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_permissions_update unknown", "POST", "/team/permissions_update",
     lambda w, c: {"body": {"team_id": unknown(), "team_member_permissions": []}},
     "404 404 403 403 403 403 403 403 403"),
]
# Key changes: as key/delete (owner, team admin; plain members per team_member_permissions,
# which by default leave them out); a team key's budget is its team admins', a move needs both
# teams. /key/regenerate and /key/{key}/regenerate the same.
KEY_CHANGES = {
    "/key/update": lambda token, extra: {"body": {"key": token, "key_alias": "x"} | extra},
    "/key/regenerate": lambda token, extra: {"body": {"key": token} | extra},
    "/key/{key}/regenerate": lambda token, extra: {"path_params": {"key": token},
                                                   "body": extra},
}
for path, change in KEY_CHANGES.items():
    MATRIX += [
        (f"{path} own", "POST", path, lambda w, c, change=change: change(w.own_key(c), {}),
         "200 200 403 200 200 403 200 403 403"),
        (f"{path} someone else's", "POST", path,
         lambda w, c, change=change: change(w.own_key("bystander"), {}),
         "200 200 403 403 403 403 403 403 403"),
        (f"{path} own team's key", "POST", path,
         lambda w, c, change=change: change(w.api.new_key(team_id=w.team)["token"], {}),
         "200 200 403 200 403 403 403 403 403"),
        (f"{path} unknown", "POST", path, lambda w, c, change=change: change("0" * 64, {}),
         "404 404 403 403 403 403 403 403 403"),
        (f"{path} own team's key, its budget", "POST", path,
         lambda w, c, change=change: change(w.api.new_key(team_id=w.team)["token"],
                                            {"max_budget": 5.0}),
         "200 200 403 200 403 403 403 403 403"),
        (f"{path} own team's key to another team", "POST", path,
         lambda w, c, change=change: change(w.api.new_key(team_id=w.team)["token"],
                                            {"team_id": w.other_team}),
         "200 200 403 403 403 403 403 403 403"),
    ]
# Users: admins change anyone; a user their own email and metadata (viewers nothing); admins
# delete; admins and viewers list.
MATRIX += [
    ("user_update self", "POST", "/user/update",
     lambda w, c: {"body": {"user_id": w.user_ids.get(c, w.bystander["user_id"]),
                            "metadata": {"changed_by": c}}},
     "200 200 403 200 200 403 200 403 403"),
    ("user_update own budget", "POST", "/user/update",
     lambda w, c: {"body": {"user_id": w.user_ids.get(c, w.bystander["user_id"]),
                            "max_budget": 1000.0 + CALLERS.index(c)}},
     "200 200 403 403 403 403 403 403 403"),
    ("user_update someone else", "POST", "/user/update",
     lambda w, c: {"body": {"user_id": w.bystander["user_id"], "metadata": {"by": c}}},
     "200 200 403 403 403 403 403 403 403"),
    ("user_update someone else's role", "POST", "/user/update",
     lambda w, c: {"body": {"user_id": w.api.new_user()["user_id"],
                            "user_role": "internal_user_viewer"}},
     "200 200 403 403 403 403 403 403 403"),
    ("user_update unknown", "POST", "/user/update",
     lambda w, c: {"body": {"user_id": unknown(), "metadata": {}}},
     "404 404 403 403 403 403 403 403 403"),
    ("user_delete", "POST", "/user/delete",
     lambda w, c: {"body": {"user_ids": [w.api.new_user()["user_id"]]}},
     "200 200 403 403 403 403 403 403 403"),
    ("user_delete unknown", "POST", "/user/delete",
     lambda w, c: {"body": {"user_ids": [unknown()]}},
     "404 404 403 403 403 403 403 403 403"),
    ("user_list", "GET", "/user/list", lambda w, c: {},
     "200 200 200 403 403 403 403 403 403"),
]
for route in ("update", "block", "unblock"):
    path = f"/team/{route}"
    extra = {"team_alias": "changed"} if route == "update" else {}
    MATRIX += [
        (f"team_{route} own", "POST", path,
         lambda w, c, extra=extra: {"body": {"team_id": w.own_team()} | extra},
         "200 200 403 200 403 403 403 403 403"),
        (f"team_{route} other", "POST", path,
         lambda w, c, extra=extra: {"body": {"team_id": w.api.new_team()["team_id"]} | extra},
         "200 200 403 403 403 403 403 403 403"),
        (f"team_{route} unknown", "POST", path,
         lambda w, c, extra=extra: {"body": {"team_id": unknown()} | extra},
         "404 404 403 403 403 403 403 403 403"),
    ]
# PATCH /team/{team_id}: as /team/update, the team in the path
MATRIX += [
    ("team_patch own", "PATCH", "/team/{team_id}",
     lambda w, c: {"path_params": {"team_id": w.own_team()}, "body": {"team_alias": "patched"}},
     "200 200 403 200 403 403 403 403 403"),
    ("team_patch own max_budget", "PATCH", "/team/{team_id}",
     lambda w, c: {"path_params": {"team_id": w.own_team()}, "body": {"max_budget": 1000.0}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_patch other", "PATCH", "/team/{team_id}",
     lambda w, c: {"path_params": {"team_id": w.api.new_team()["team_id"]},
                   "body": {"team_alias": "patched"}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_patch unknown", "PATCH", "/team/{team_id}",
     lambda w, c: {"path_params": {"team_id": unknown()}, "body": {"team_alias": "patched"}},
     "404 404 403 403 403 403 403 403 403"),
]
# What an admin set on a team is the admins' to undo: its budget and limits, and a block an admin
# put on (team admins lift their own).
for field, value in (("max_budget", 1000.0), ("budget_duration", "1d"), ("tpm_limit", 5),
                     ("rpm_limit", 5), ("max_parallel_requests", 5)):
    MATRIX += [
        (f"team_update own {field}", "POST", "/team/update",
         lambda w, c, field=field, value=value: {"body": {"team_id": w.own_team(), field: value}},
         "200 200 403 403 403 403 403 403 403"),
    ]
MATRIX += [
    ("team_unblock own, blocked by an admin", "POST", "/team/unblock",
     lambda w, c: {"body": {"team_id": w.blocked_team("master")}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_update own blocked false, blocked by an admin", "POST", "/team/update",
     lambda w, c: {"body": {"team_id": w.blocked_team("master"), "blocked": False}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_unblock own, blocked by its team admin", "POST", "/team/unblock",
     lambda w, c: {"body": {"team_id": w.blocked_team("team_admin")}},
     "200 200 403 200 403 403 403 403 403"),
]
MATRIX += [
    ("team_delete own", "POST", "/team/delete",
     lambda w, c: {"body": {"team_ids": [w.own_team()]}},
     "200 200 403 200 403 403 403 403 403"),
    ("team_delete other", "POST", "/team/delete",
     lambda w, c: {"body": {"team_ids": [w.api.new_team()["team_id"]]}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_delete own and other", "POST", "/team/delete",
     lambda w, c: {"body": {"team_ids": [w.own_team(), w.api.new_team()["team_id"]]}},
     "200 200 403 403 403 403 403 403 403"),
    ("team_delete unknown", "POST", "/team/delete",
     lambda w, c: {"body": {"team_ids": [unknown()]}},
     "404 404 403 403 403 403 403 403 403"),
]

# Member and model routes: the body for a target team. Only member_delete uses up its target,
# so it gets fresh teams; the others act on the shared ones.
MEMBER_BODIES = {
    "/team/member_add": lambda w, team: {"team_id": team,
                                         "member": {"user_id": w.api.new_user()["user_id"]}},
    "/team/bulk_member_add": lambda w, team: {
        "team_id": team, "members": [{"user_id": w.api.new_user()["user_id"]}]},
    "/team/member_delete": lambda w, team: {"team_id": team, "user_id": w.user_ids["member"]},
    "/team/member_update": lambda w, team: {"team_id": team, "user_id": w.user_ids["member"],
                                            "max_budget_in_team": 5},
    "/team/model/add": lambda w, team: {"team_id": team, "models": ["gpt-4o"]},
    "/team/model/delete": lambda w, team: {"team_id": team, "models": ["gpt-4o"]},
}
for path, body in MEMBER_BODIES.items():
    fresh = path == "/team/member_delete"
    MATRIX += [
        (f"{path} own", "POST", path, lambda w, c, body=body, fresh=fresh: {
            "body": body(w, w.own_team() if fresh else w.team)},
         "200 200 403 200 403 403 403 403 403"),
        # a team the member is in as a plain member, and the team admin is not in
        (f"{path} other", "POST", path, lambda w, c, body=body, fresh=fresh: {
            "body": body(w, w.members_team() if fresh else w.member_only_team)},
         "200 200 403 403 403 403 403 403 403"),
        (f"{path} unknown", "POST", path, lambda w, c, body=body: {"body": body(w, unknown())},
         "404 404 403 403 403 403 403 403 403"),
    ]

CASES = [
    pytest.param(method, path, request, caller, int(status), id=f"{name} | {caller}")
    for name, method, path, request, statuses in MATRIX
    for caller, status in zip(CALLERS, statuses.split(), strict=True)
]


@pytest.mark.parametrize(("method", "path", "request_for", "caller", "expected"), CASES)
def test_role_table(api, world, method, path, request_for, caller, expected):
    reply = api.call(method, path, key=world.keys[caller], **request_for(world, caller))
    assert reply.status == expected, reply
    if expected != 200:
        assert reply.body["detail"]["error"]


def test_the_matrix_covers_every_route_of_the_template():
    # Every route of template.yaml but the public probe has rows for every caller
    from tests.support.template import load_template, routes

    covered = {(method, path) for _, method, path, _, _ in MATRIX}
    expected = {(r.method, r.path) for r in routes(load_template())
                if r.path != "/health/liveliness" and not r.path.startswith("/ui")}
    assert expected <= covered, sorted(expected - covered)
