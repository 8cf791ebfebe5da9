"""The user routes that change and list users (issue 14), through the handlers against moto.

- POST /user/update: admins change any field of anyone; a user changes their own email and
  metadata only (403 for role, budget or models); a changed role binds at once on every key
  of the user; a changed email frees the old one; another user's email is 400; one audit
  record.
- POST /user/delete: the users go with their memberships, their keys and their emails, each
  audited; an unknown id is 404 and nothing is deleted; a user with more keys than one
  transaction holds loses them first, and goes last.
- GET /user/list: newest first, pages, the exact total, `role` and `user_email` (partial,
  any case).
- PATCH /team/{team_id}: /team/update's fields and rules for the path's team.
"""

import uuid

import pytest

from tests.support.client import MASTER_KEY


def _email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def _records(api, object_id: str, table: str) -> list[dict]:
    page = api.ok(api.get("/audit", query={"object_id": object_id, "table_name": table}))
    return page["data"]


# --- POST /user/update -------------------------------------------------------------------

def test_admin_changes_a_users_fields_and_one_record_says_what_changed(api):
    # Given a user
    user = api.new_user(user_email=_email())
    new_email = _email("moved")

    # When an admin changes their email, budget, models and metadata
    updated = api.ok(api.post("/user/update", {
        "user_id": user["user_id"], "user_email": new_email, "max_budget": 12.5,
        "budget_duration": "30d", "models": ["gpt-4o"], "metadata": {"team": "ml"}}))

    # Then the answer is the User with the new values, a budget period started
    assert (updated["user_email"], updated["max_budget"], updated["budget_duration"],
            updated["models"], updated["metadata"]) == (new_email, 12.5, "30d", ["gpt-4o"],
                                                       {"team": "ml"})
    assert updated["budget_reset_at"] > updated["created_at"]
    # and /user/info shows the same
    info = api.ok(api.get("/user/info", query={"user_id": user["user_id"]}))["user_info"]
    assert (info["user_email"], info["max_budget"], info["models"]) == (
        new_email, 12.5, ["gpt-4o"])
    # and one record of the change holds the fields that changed, before and after
    (record, _created) = _records(api, user["user_id"], "LiteLLM_UserTable")
    assert record["action"] == "updated"
    assert record["updated_values"]["user_email"] == new_email
    assert record["before_value"]["user_email"] == user["user_email"]
    assert set(record["updated_values"]) == {"user_email", "max_budget", "budget_duration",
                                             "budget_reset_at", "models", "metadata"}


def test_a_user_named_by_email_is_updated_and_nothing_sent_is_no_change(api):
    # Given a user with an email
    email = _email()
    user = api.new_user(user_email=email, metadata={"a": 1})

    # When they are named by their email alone, with a new metadata
    updated = api.ok(api.post("/user/update", {"user_email": email.upper(),
                                               "metadata": {"b": 2}}))

    # Then that user changed (the email named them: it stays as it was)
    assert (updated["user_id"], updated["user_email"], updated["metadata"]) == (
        user["user_id"], email, {"b": 2})
    # And an update that changes nothing writes no record
    api.ok(api.post("/user/update", {"user_id": user["user_id"], "metadata": {"b": 2}}))
    assert len(_records(api, user["user_id"], "LiteLLM_UserTable")) == 2  # created, updated


def test_a_changed_role_binds_at_once_on_every_key_of_the_user(api):
    # Given an internal user with two keys, which may not search all teams
    user = api.new_user()
    keys = [user["key"], api.new_key(user_id=user["user_id"])["key"]]
    for key in keys:
        assert api.get("/team/filter/ui", key=key).status == 403

    # When an admin makes them a viewer
    api.ok(api.post("/user/update", {"user_id": user["user_id"],
                                     "user_role": "proxy_admin_viewer"}))

    # Then both keys act as a viewer on the next request
    for key in keys:
        assert api.get("/team/filter/ui", key=key).status == 200
    # And back: an internal user again, at once
    api.ok(api.post("/user/update", {"user_id": user["user_id"], "user_role": "internal_user"}))
    for key in keys:
        assert api.get("/team/filter/ui", key=key).status == 403


def test_an_admin_demoted_loses_admin_rights_at_once(api):
    # Given a proxy admin's key, which may create teams
    admin = api.new_user("proxy_admin")
    api.ok(api.post("/team/new", {}, key=admin["key"]))

    # When another admin makes them an internal user
    api.ok(api.post("/user/update", {"user_id": admin["user_id"], "user_role": "internal_user"}))

    # Then their key may no longer create teams, nor change roles (their own included)
    assert api.post("/team/new", {}, key=admin["key"]).status == 403
    reply = api.post("/user/update", {"user_id": admin["user_id"], "user_role": "proxy_admin"},
                     key=admin["key"])
    assert reply.status == 403


def test_a_user_changes_their_own_email_and_metadata_only(api):
    # Given an internal user
    user = api.new_user(user_email=_email(), max_budget=5.0)
    own = {"user_id": user["user_id"]}

    # When they change their email and metadata
    new_email = _email("self")
    updated = api.ok(api.post("/user/update", own | {"user_email": new_email,
                                                     "metadata": {"tz": "UTC"}},
                              key=user["key"]))
    assert (updated["user_email"], updated["metadata"]) == (new_email, {"tz": "UTC"})

    # Then their role, budget, duration and models are refused, and nothing changes
    for field, value in (("user_role", "proxy_admin"), ("max_budget", 500.0),
                         ("budget_duration", "1d"), ("models", ["o3"])):
        reply = api.post("/user/update", own | {field: value, "metadata": {}}, key=user["key"])
        assert reply.status == 403, (field, reply)
    info = api.ok(api.get("/user/info", key=user["key"]))["user_info"]
    assert (info["user_role"], info["max_budget"], info["metadata"]) == (
        "internal_user", 5.0, {"tz": "UTC"})
    # But sending their own role or budget as it is changes nothing and is not refused
    api.ok(api.post("/user/update", own | {"user_role": "internal_user", "max_budget": 5.0},
                    key=user["key"]))


@pytest.mark.parametrize("caller", ["other_user", "viewer_self", "user_viewer_self"])
def test_who_may_not_update_a_user(api, caller):
    # Given a user, and a caller who is neither an admin nor, for a change, that user
    target = api.new_user()
    key, user_id = {
        "other_user": (api.new_user()["key"], target["user_id"]),
        "viewer_self": (lambda u: (u["key"], u["user_id"]))(api.new_user("proxy_admin_viewer")),
        "user_viewer_self": (lambda u: (u["key"], u["user_id"]))(
            api.new_user("internal_user_viewer")),
    }[caller]

    # When they change its metadata
    reply = api.post("/user/update", {"user_id": user_id, "metadata": {"x": 1}}, key=key)

    # Then 403: viewers change nothing, their own row included
    assert reply.status == 403, reply


def test_an_email_moves_and_the_old_one_is_free(api):
    # Given a user with an email
    old = _email("old")
    user = api.new_user(user_email=old)
    new = _email("new")

    # When it changes
    api.ok(api.post("/user/update", {"user_id": user["user_id"], "user_email": new}))

    # Then the new one is theirs (no one else may take it)...
    reply = api.post("/user/new", {"user_email": new.upper()})
    assert reply.status == 400 and "belongs to another user" in reply.body["detail"]["error"]
    # ...and the old one is free for someone else
    assert api.new_user(user_email=old)["user_email"] == old


def test_another_users_email_is_400_and_nothing_changes(api):
    # Given two users with emails
    first, second = api.new_user(user_email=_email()), api.new_user(user_email=_email())

    # When the first would take the second's email (in any case)
    reply = api.post("/user/update", {"user_id": first["user_id"],
                                      "user_email": second["user_email"].upper(),
                                      "metadata": {"changed": True}})

    # Then 400, and neither user changed
    assert reply.status == 400
    assert "belongs to another user" in reply.body["detail"]["error"]
    info = api.ok(api.get("/user/info", query={"user_id": first["user_id"]}))["user_info"]
    assert (info["user_email"], info["metadata"]) == (first["user_email"], {})


def test_an_email_in_another_case_is_the_users_own(api):
    # Given a user with an email
    email = _email("case")
    user = api.new_user(user_email=email)

    # When it is written in capitals
    updated = api.ok(api.post("/user/update", {"user_id": user["user_id"],
                                               "user_email": email.upper()}))

    # Then it is stored as given, still theirs, and still taken for anyone else
    assert updated["user_email"] == email.upper()
    assert api.post("/user/new", {"user_email": email}).status == 400


@pytest.mark.parametrize(("caller", "status"), [("admin", 404), ("user", 403)])
def test_an_unknown_user_is_404_for_admins_and_403_for_others(api, caller, status):
    key = MASTER_KEY if caller == "admin" else api.new_user()["key"]
    for body in ({"user_id": f"nobody-{uuid.uuid4().hex[:8]}"}, {"user_email": _email("none")}):
        reply = api.post("/user/update", body | {"metadata": {}}, key=key)
        assert reply.status == status, (body, reply)


@pytest.mark.parametrize(("body", "status"), [
    ({"metadata": {}}, 400),  # names nobody
    ({"user_id": "u", "user_role": "root"}, 422),
    ({"user_id": "u", "user_email": "not-an-email"}, 422),
    ({"user_id": "u", "max_budget": "lots"}, 422),
])
def test_bad_update_requests(api, body, status):
    assert api.post("/user/update", body).status == status


def test_bad_values_are_400_and_change_nothing(api):
    user = api.new_user()
    for body in ({"max_budget": -1}, {"budget_duration": "30days"},
                 {"max_budget": float("inf")}):
        reply = api.post("/user/update", {"user_id": user["user_id"]} | body)
        assert reply.status in (400, 422), (body, reply)
    assert len(_records(api, user["user_id"], "LiteLLM_UserTable")) == 1  # created only


# --- POST /user/delete -------------------------------------------------------------------

def test_a_user_goes_with_their_memberships_keys_and_email(api):
    # Given a user with an email, in a team (as its admin), with a key of their own and one
    # of the team
    email = _email("gone")
    user = api.new_user(user_email=email)
    team_id = api.new_team(members_with_roles=[{"user_id": user["user_id"],
                                                "role": "admin"}])["team_id"]
    team_key = api.new_key(user_id=user["user_id"], team_id=team_id)
    keys = [user["key"], team_key["key"]]

    # When an admin deletes the user
    reply = api.ok(api.post("/user/delete", {"user_ids": [user["user_id"]]}))

    # Then the answer names them, and they are gone with everything of theirs
    assert reply == {"deleted_users": [user["user_id"]]}
    assert api.get("/user/info", query={"user_id": user["user_id"]}).status == 404
    for key in keys:
        assert api.get("/key/info", key=key).status == 401
    team = api.ok(api.get("/team/info", query={"team_id": team_id}))
    assert user["user_id"] not in [m["user_id"] for m in team["team_info"]["members_with_roles"]]
    assert team["keys"] == [] and team["team_memberships"][0]["user_id"] != user["user_id"]
    listed = api.ok(api.get("/v2/team/list", query={"team_id": team_id}))["teams"][0]
    assert user["user_id"] not in [m["user_id"] for m in listed["members_with_roles"]]
    # and their email is free again
    assert api.new_user(user_email=email)["user_email"] == email
    # and each deleted object has its record
    assert _records(api, user["user_id"], "LiteLLM_UserTable")[0]["action"] == "deleted"
    membership = _records(api, f"{team_id}:{user['user_id']}", "LiteLLM_TeamMembership")
    assert membership[0]["action"] == "deleted"
    assert _records(api, team_key["token"], "LiteLLM_VerificationToken")[0]["action"] == \
        "deleted"


def test_several_users_go_in_one_request(api):
    # Given two users in one team
    first, second = api.new_user(), api.new_user()
    team_id = api.new_team(members_with_roles=[{"user_id": first["user_id"]},
                                               {"user_id": second["user_id"]}])["team_id"]

    # When both are deleted at once (their memberships touch the same team's roster)
    api.ok(api.post("/user/delete", {"user_ids": [first["user_id"], second["user_id"]]}))

    # Then the team has neither
    team = api.ok(api.get("/team/info", query={"team_id": team_id}))["team_info"]
    assert [m["user_id"] for m in team["members_with_roles"]] == ["default_user_id"]


def test_an_unknown_id_is_404_and_nothing_is_deleted(api):
    # Given a user, and an id nobody has
    user = api.new_user()

    # When both are named
    reply = api.post("/user/delete", {"user_ids": [user["user_id"], "nobody-" + uuid.uuid4().hex]})

    # Then 404, and the user is still there with their key
    assert reply.status == 404
    assert api.get("/key/info", key=user["key"]).status == 200


@pytest.mark.parametrize("role", ["proxy_admin_viewer", "internal_user"])
def test_only_admins_delete_users(api, role):
    caller, target = api.new_user(role), api.new_user()
    for user_id in (target["user_id"], caller["user_id"]):
        reply = api.post("/user/delete", {"user_ids": [user_id]}, key=caller["key"])
        assert reply.status == 403
    assert api.get("/key/info", key=target["key"]).status == 200


def test_a_user_with_more_keys_than_one_transaction_holds_loses_them_first(api):
    # Given a user with 40 keys (3 writes each: more than one transaction's 100 with the user)
    user = api.new_user()
    tokens = [api.new_key(user_id=user["user_id"])["token"] for _ in range(39)]

    # When they are deleted
    api.ok(api.post("/user/delete", {"user_ids": [user["user_id"]]}))

    # Then every key went, each audited, and the user
    assert api.get("/user/info", query={"user_id": user["user_id"]}).status == 404
    for token in tokens:
        assert api.get("/key/info", query={"key": token}).status == 404
    assert len(api.ok(api.get("/audit", query={
        "changed_by": "default_user_id", "table_name": "LiteLLM_VerificationToken",
        "action": "deleted", "limit": 100}))["data"]) >= 40


# --- GET /user/list ----------------------------------------------------------------------

def test_users_are_listed_newest_first_in_pages_with_the_total(api):
    # Given three users whose emails share a tag
    tag = uuid.uuid4().hex[:8]
    made = [api.new_user(user_email=f"{tag}-{n}@Example.com")["user_id"] for n in range(3)]

    # When they are listed by part of their email, in another case, two a page
    query = {"user_email": f"{tag.upper()}-", "page_size": 2}
    first = api.ok(api.get("/user/list", query=query))
    second = api.ok(api.get("/user/list", query=query | {"page": 2}))
    beyond = api.ok(api.get("/user/list", query=query | {"page": 3}))

    # Then newest first, with the exact total on every page
    assert [u["user_id"] for u in first["users"] + second["users"]] == made[::-1]
    assert (first["total"], first["page"], first["page_size"], first["total_pages"]) == (
        3, 1, 2, 2)
    assert (second["total"], second["page"]) == (3, 2)
    assert beyond["users"] == [] and beyond["total"] == 3
    assert set(first["users"][0]) >= {"user_id", "user_email", "user_role", "teams", "spend",
                                      "max_budget", "models", "metadata", "created_at"}


def test_the_total_counts_every_user_and_follows_creates_and_deletes(api):
    # Given the total now (the master key's own user exists once it made a team)
    api.new_team()
    before = api.ok(api.get("/user/list", query={"page_size": 1}))["total"]

    # When two users are made (one by a team's member list) and one is deleted
    new = api.new_user()
    api.new_team(members_with_roles=[{"user_id": f"member-{uuid.uuid4().hex[:8]}"}])
    after_creates = api.ok(api.get("/user/list", query={"page_size": 1}))
    api.ok(api.post("/user/delete", {"user_ids": [new["user_id"]]}))
    after_delete = api.ok(api.get("/user/list", query={"page_size": 1}))

    # Then the total follows, and the newest user comes first
    assert after_creates["total"] == before + 2
    assert after_delete["total"] == before + 1
    assert after_creates["total_pages"] == after_creates["total"]


def test_users_are_listed_by_role(api):
    tag = uuid.uuid4().hex[:8]
    viewer = api.new_user("proxy_admin_viewer", user_email=f"{tag}-v@example.com")
    api.new_user(user_email=f"{tag}-u@example.com")

    page = api.ok(api.get("/user/list", query={"role": "proxy_admin_viewer",
                                                "user_email": tag}))

    assert [u["user_id"] for u in page["users"]] == [viewer["user_id"]]
    assert page["total"] == 1


def test_a_listed_user_shows_their_teams_and_spend(api):
    tag = uuid.uuid4().hex[:8]
    user = api.new_user(user_email=f"{tag}@example.com")
    team_id = api.new_team(members_with_roles=[{"user_id": user["user_id"]}])["team_id"]

    (listed,) = api.ok(api.get("/user/list", query={"user_email": tag}))["users"]

    assert listed["teams"] == [team_id] and listed["spend"] == 0.0


@pytest.mark.parametrize(("role", "status"), [
    ("proxy_admin_viewer", 200), ("internal_user", 403), ("internal_user_viewer", 403)])
def test_who_lists_users(api, role, status):
    assert api.get("/user/list", key=api.new_user(role)["key"]).status == status


@pytest.mark.parametrize("query", [{"page": 0}, {"page_size": 0}, {"page_size": 101},
                                   {"role": "root"}, {"page": "x"}])
def test_bad_list_queries_are_422(api, query):
    assert api.get("/user/list", query=query).status == 422


# --- PATCH /team/{team_id} ---------------------------------------------------------------

def _patch(api, team_id: str, body: dict, **kwargs):
    return api.call("PATCH", "/team/{team_id}", path_params={"team_id": team_id}, body=body,
                    **kwargs)


def test_patch_changes_the_fields_sent_and_answers_the_team(api):
    # Given a team
    team = api.new_team(metadata={"a": 1}, max_budget=10.0)

    # When it is patched by its id in the path (with or without that id in the body)
    patched = api.ok(_patch(api, team["team_id"], {"team_alias": "patched", "models": ["o3"]}))
    again = api.ok(_patch(api, team["team_id"], {"team_id": team["team_id"],
                                                 "max_budget": None}))

    # Then the answer is the Team; only the fields sent changed
    assert (patched["team_id"], patched["team_alias"], patched["models"],
            patched["metadata"], patched["max_budget"]) == (
        team["team_id"], "patched", ["o3"], {"a": 1}, 10.0)
    assert again["max_budget"] is None and again["team_alias"] == "patched"
    # and each change is one `updated` record of the team
    records = _records(api, team["team_id"], "LiteLLM_TeamTable")
    assert [r["action"] for r in records] == ["updated", "updated", "created"]


def test_patch_with_another_team_id_in_the_body_is_400(api):
    team, other = api.new_team(), api.new_team()

    reply = _patch(api, team["team_id"], {"team_id": other["team_id"], "team_alias": "x"})

    assert reply.status == 400
    assert api.ok(api.get("/team/info", query={"team_id": other["team_id"]}))[
        "team_info"]["team_alias"] == other["team_alias"]


def test_patch_keeps_team_update_rules(api):
    # Given a team with its team admin
    admin = api.new_user()
    team_id = api.new_team(members_with_roles=[{"user_id": admin["user_id"],
                                                "role": "admin"}])["team_id"]

    # Then the team admin changes the alias, but not the budget; others nothing
    api.ok(_patch(api, team_id, {"team_alias": "by-team-admin"}, key=admin["key"]))
    assert _patch(api, team_id, {"max_budget": 1.0}, key=admin["key"]).status == 403
    assert _patch(api, team_id, {"team_alias": "x"}, key=api.new_user()["key"]).status == 403
    # And an unknown team is 404 for admins; a bad value 400
    assert _patch(api, "nope-" + uuid.uuid4().hex, {"team_alias": "x"}).status == 404
    assert _patch(api, team_id, {"budget_duration": "30days"}).status == 400
    assert _patch(api, team_id, {"max_budget": "lots"}).status == 422


def test_patch_finds_a_team_whose_id_needs_escaping_in_a_path(api):
    # Given a team whose id has a space, a slash, a colon and a percent sign
    team_id = f"ops / eu:west 100% {uuid.uuid4().hex[:6]}"
    api.new_team(team_id=team_id)

    # When it is patched (its id percent-encoded in the path, as clients send it)
    patched = api.ok(_patch(api, team_id, {"team_alias": "escaped"}))

    # Then that team changed
    assert (patched["team_id"], patched["team_alias"]) == (team_id, "escaped")
