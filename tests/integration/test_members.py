"""Team membership, end to end through handlers: the flows of LiteLLM's own end-to-end member
tests (add, add a list, delete, add by email, member budgets, promote), model add/delete,
bulk add, self-join to an available team, and one audit record per changed object."""

import os
import uuid

import boto3


def _info(api, team_id: str) -> dict:
    return api.ok(api.get("/team/info", query={"team_id": team_id}))


def _roles(team: dict) -> dict[str, str]:
    return {m["user_id"]: m["role"] for m in team["members_with_roles"]}


def _ids(team: dict) -> list[str]:
    """The members in the order they joined (`members` itself stays [], as in LiteLLM)."""
    return [m["user_id"] for m in team["members_with_roles"]]


def _membership(api, team_id: str, user_id: str) -> dict:
    memberships = _info(api, team_id)["team_memberships"]
    return next(m for m in memberships if m["user_id"] == user_id)


def _audit(object_id: str) -> list[dict]:
    items = boto3.client("dynamodb").query(
        TableName=os.environ["TABLE_NAME"], KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{object_id}"}})["Items"]
    return [{"action": i["action"]["S"], "table_name": i["table_name"]["S"],
             "before": i["before_value"], "after": i["updated_values"]} for i in items]


def _email() -> str:
    return f"member-{uuid.uuid4().hex[:8]}@example.com"


# --- member_add --------------------------------------------------------------------------

def test_add_one_member(api):
    # Given a team and a user outside it
    team = api.new_team()
    user = api.new_user()
    # When the user is added
    added = api.ok(api.post("/team/member_add", {
        "team_id": team["team_id"], "member": {"user_id": user["user_id"], "role": "user"}}))
    # Then the answer is the team with the member, the user and their membership
    assert _roles(added) == {"default_user_id": "admin", user["user_id"]: "user"}
    assert added["team_id"] == team["team_id"] and added["created_at"] == team["created_at"]
    assert [u["user_id"] for u in added["updated_users"]] == [user["user_id"]]
    assert team["team_id"] in added["updated_users"][0]["teams"]
    assert added["updated_team_memberships"] == [{
        "user_id": user["user_id"], "team_id": team["team_id"], "budget_id": None, "spend": 0.0,
        "litellm_budget_table": None}]
    # And the team and the user show it from then on
    assert _roles(_info(api, team["team_id"])["team_info"])[user["user_id"]] == "user"
    user_info = api.ok(api.get("/user/info", query={"user_id": user["user_id"]}))
    assert user_info["user_info"]["teams"] == [team["team_id"]]


def test_add_a_list_of_ten_to_a_team_with_an_admin(api):
    # Given a team made by the master key (default_user_id is its admin) with another admin
    admin = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": admin["user_id"], "role": "admin"}])
    # When ten members are added in one request (new user ids: their users are created)
    new_ids = [f"ten-{uuid.uuid4().hex[:8]}" for _ in range(10)]
    added = api.ok(api.post("/team/member_add", {
        "team_id": team["team_id"], "member": [{"user_id": u} for u in new_ids]}))
    # Then the team has twelve members, default_user_id among them, in the order added
    info = _info(api, team["team_id"])["team_info"]
    assert len(info["members_with_roles"]) == 12
    assert _ids(info) == ["default_user_id", admin["user_id"], *new_ids]
    assert _ids(added) == _ids(info)
    assert {u["user_role"] for u in added["updated_users"]} == {"internal_user"}
    assert api.ok(api.get("/user/info", query={"user_id": new_ids[3]}))["user_info"]["teams"] \
        == [team["team_id"]]


def test_add_by_email_links_an_existing_user_and_creates_a_new_one(api):
    # Given a user with an email, and an email nobody has
    known = api.new_user(user_email=_email())
    fresh = _email()
    team = api.new_team()
    # When both are added by email only
    added = api.ok(api.post("/team/member_add", {"team_id": team["team_id"], "member": [
        {"user_email": known["user_email"]}, {"user_email": fresh, "role": "admin"}]}))
    # Then the known email is that user, and the new one is a new internal_user
    by_email = {m["user_email"]: m for m in added["members_with_roles"]}
    assert by_email[known["user_email"]]["user_id"] == known["user_id"]
    created = by_email[fresh]["user_id"]
    assert created and by_email[fresh]["role"] == "admin"
    user = api.ok(api.get("/user/info", query={"user_id": created}))["user_info"]
    assert (user["user_email"], user["user_role"]) == (fresh, "internal_user")


def test_an_email_two_users_share_is_400_asking_for_the_user_id(api):
    # Two users can only share an email if stored before an email was one user's
    from tests.support.legacy import user_without_email_item

    shared = _email()
    for _ in range(2):
        user_without_email_item(f"shared-{uuid.uuid4().hex[:8]}", shared)
    team = api.new_team()
    reply = api.post("/team/member_add", {"team_id": team["team_id"],
                                          "member": {"user_email": shared}})
    assert reply.status == 400 and "user_id" in reply.body["detail"]["error"]
    assert len(_ids(_info(api, team["team_id"])["team_info"])) == 1


def test_adding_to_an_unknown_team_is_404(api):
    reply = api.post("/team/member_add", {"team_id": f"nope-{uuid.uuid4().hex[:8]}",
                                          "member": {"user_id": api.new_user()["user_id"]}})
    assert reply.status == 404, reply


def test_a_member_already_in_is_400_naming_them_only_and_nothing_is_added(api):
    # Given a team with a member
    member, other = api.new_user(), api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])
    newcomer = f"new-{uuid.uuid4().hex[:8]}"
    # When a list with a newcomer, the member and another user is added
    reply = api.post("/team/member_add", {"team_id": team["team_id"], "member": [
        {"user_id": newcomer}, {"user_id": member["user_id"]}, {"user_id": other["user_id"]}]})
    # Then it is 400 naming that member and nobody else of the roster
    assert reply.status == 400
    message = reply.body["detail"]["error"]
    assert message == f"User {member['user_id']} is already a member of this team"
    assert "default_user_id" not in message
    # And nothing was added, not even the newcomer's user row
    assert set(_ids(_info(api, team["team_id"])["team_info"])) == {
        "default_user_id", member["user_id"]}
    assert api.get("/user/info", query={"user_id": newcomer}).status == 404


def test_more_than_19_members_in_one_add_is_422_pointing_to_bulk_add(api):
    team = api.new_team()
    reply = api.post("/team/member_add", {"team_id": team["team_id"],
                                          "member": [{"user_id": f"u{i}"} for i in range(20)]})
    assert reply.status == 422
    assert any("member" in error["loc"] for error in reply.body["detail"])


def test_a_member_added_with_a_budget_gets_a_membership_budget_on_the_period_grid(api):
    team = api.new_team()
    user = api.new_user()
    added = api.ok(api.post("/team/member_add", {
        "team_id": team["team_id"], "member": {"user_id": user["user_id"]},
        "max_budget_in_team": 12.5, "budget_duration": "7d"}))
    membership = added["updated_team_memberships"][0]
    budget = membership["litellm_budget_table"]
    assert membership["budget_id"] and budget["max_budget"] == 12.5
    assert budget["budget_duration"] == "7d" and budget["budget_reset_at"] > added["updated_at"]
    assert _membership(api, team["team_id"], user["user_id"]) == membership


# --- member_delete -----------------------------------------------------------------------

def test_delete_a_member_then_again_is_400(api):
    # Given a team with a member
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])
    body = {"team_id": team["team_id"], "user_id": member["user_id"]}
    # When the member is deleted
    deleted = api.ok(api.post("/team/member_delete", body))
    # Then the team no longer has them, nor does the user have the team
    assert _ids(deleted) == ["default_user_id"]
    assert _ids(_info(api, team["team_id"])["team_info"]) == ["default_user_id"]
    user_info = api.ok(api.get("/user/info", query={"user_id": member["user_id"]}))
    assert user_info["user_info"]["teams"] == []
    # And deleting them again is 400: not a member
    again = api.post("/team/member_delete", body)
    assert again.status == 400 and "not a member" in again.body["detail"]["error"]


def test_delete_by_email_and_unknown_cases(api):
    email = _email()
    member = api.new_user(user_email=email)
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])
    unknown_team = api.post("/team/member_delete", {"team_id": f"nope-{uuid.uuid4().hex[:6]}",
                                                    "user_id": member["user_id"]})
    assert unknown_team.status == 404
    unknown_user = api.post("/team/member_delete", {"team_id": team["team_id"],
                                                    "user_id": f"ghost-{uuid.uuid4().hex[:6]}"})
    assert unknown_user.status == 400
    deleted = api.ok(api.post("/team/member_delete", {"team_id": team["team_id"],
                                                      "user_email": email.upper()}))
    assert member["user_id"] not in _ids(deleted)


def test_remove_and_re_add_with_a_budget(api):
    # Given a member with a membership budget
    member = api.new_user()
    team = api.new_team()
    add = {"team_id": team["team_id"], "member": {"user_id": member["user_id"]},
           "max_budget_in_team": 5}
    first = api.ok(api.post("/team/member_add", add))["updated_team_memberships"][0]
    # When they are removed and added again with another budget
    api.ok(api.post("/team/member_delete", {"team_id": team["team_id"],
                                            "user_id": member["user_id"]}))
    again = api.ok(api.post("/team/member_add", add | {"max_budget_in_team": 7}))
    # Then they are back with a new membership budget of their own
    membership = again["updated_team_memberships"][0]
    assert membership["litellm_budget_table"]["max_budget"] == 7
    assert membership["budget_id"] != first["budget_id"]
    assert _membership(api, team["team_id"], member["user_id"]) == membership


# --- member_update -----------------------------------------------------------------------

def test_update_a_members_budget_twice(api):
    # Given a member without a budget
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])
    body = {"team_id": team["team_id"], "user_id": member["user_id"]}
    # When their budget is set, then changed (LiteLLM answered 500 to the second)
    first = api.ok(api.post("/team/member_update", body | {"max_budget_in_team": 10}))
    second = api.ok(api.post("/team/member_update", body | {"max_budget_in_team": 20}))
    # Then each answer shows the budget set, and the one membership budget holds the last
    assert first == {"user_id": member["user_id"], "user_email": None,
                     "team_id": team["team_id"], "max_budget_in_team": 10}
    assert second["max_budget_in_team"] == 20
    membership = _membership(api, team["team_id"], member["user_id"])
    assert membership["litellm_budget_table"]["max_budget"] == 20 and membership["budget_id"]
    # And each change is one audit record of that membership
    records = _audit(f"{team['team_id']}:{member['user_id']}")
    assert [r["action"] for r in records] == ["created", "updated", "updated"]


def test_a_budget_duration_puts_the_budget_on_a_schedule_and_starts_a_period(api):
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])
    body = {"team_id": team["team_id"], "user_id": member["user_id"]}
    api.ok(api.post("/team/member_update", body | {"budget_duration": "1h"}))
    budget = _membership(api, team["team_id"], member["user_id"])["litellm_budget_table"]
    assert budget["budget_duration"] == "1h" and budget["budget_reset_at"]
    # The same duration again changes nothing (and writes no audit record)
    api.ok(api.post("/team/member_update", body | {"budget_duration": "1h"}))
    assert len(_audit(f"{team['team_id']}:{member['user_id']}")) == 2
    # A bad duration is 400 naming the field
    bad = api.post("/team/member_update", body | {"budget_duration": "30days"})
    assert bad.status == 400 and "budget_duration" in bad.body["detail"]["error"]


def test_promote_a_member_to_admin(api):
    # Given a plain member
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])
    # When they are made admin
    api.ok(api.post("/team/member_update", {"team_id": team["team_id"],
                                            "user_id": member["user_id"], "role": "admin"}))
    # Then the team lists them as admin, and they may now manage its members
    info = _info(api, team["team_id"])["team_info"]
    assert _roles(info)[member["user_id"]] == "admin"
    newcomer = api.new_user()["user_id"]
    assert api.post("/team/member_add", {"team_id": team["team_id"],
                                         "member": {"user_id": newcomer}},
                    key=member["key"]).status == 200
    # And the promotion is audited with the role before and after
    updated = [r for r in _audit(f"{team['team_id']}:{member['user_id']}")
               if r["action"] == "updated"]
    assert len(updated) == 1
    assert updated[0]["before"] == {"M": {"role": {"S": "user"}}}
    assert updated[0]["after"] == {"M": {"role": {"S": "admin"}}}


def test_update_of_a_non_member_is_400_and_of_an_unknown_team_404(api):
    team = api.new_team()
    stranger = api.new_user()
    not_member = api.post("/team/member_update", {"team_id": team["team_id"],
                                                  "user_id": stranger["user_id"], "role": "admin"})
    assert not_member.status == 400
    unknown = api.post("/team/member_update", {"team_id": f"nope-{uuid.uuid4().hex[:6]}",
                                               "user_id": stranger["user_id"], "role": "admin"})
    assert unknown.status == 404


# --- models ------------------------------------------------------------------------------

def test_model_add_keeps_order_and_never_duplicates_and_delete_removes_only_what_is_named(api):
    # Given a team with two models
    team = api.new_team(models=["gpt-4o", "claude-3"])
    body = {"team_id": team["team_id"]}
    # When models are added, some already there, one named twice
    added = api.ok(api.post("/team/model/add", body | {
        "models": ["claude-3", "llama-3", "mistral", "llama-3"]}))
    # Then the team's order is kept and each model appears once
    assert added["models"] == ["gpt-4o", "claude-3", "llama-3", "mistral"]
    # When two are deleted, one of them not on the team
    deleted = api.ok(api.post("/team/model/delete", body | {"models": ["claude-3", "o1"]}))
    # Then only the named model present is gone
    assert deleted["models"] == ["gpt-4o", "llama-3", "mistral"]
    assert _info(api, team["team_id"])["team_info"]["models"] == deleted["models"]
    # And each change is one audit record; a change that changes nothing writes none
    api.ok(api.post("/team/model/add", body | {"models": ["gpt-4o"]}))
    assert [r["action"] for r in _audit(team["team_id"])].count("updated") == 2


def test_model_routes_on_an_unknown_team_are_404(api):
    for path in ("/team/model/add", "/team/model/delete"):
        reply = api.post(path, {"team_id": f"nope-{uuid.uuid4().hex[:6]}", "models": ["m"]})
        assert reply.status == 404, (path, reply)


# --- bulk_member_add ---------------------------------------------------------------------

def test_bulk_add_with_a_duplicate_in_it(api):
    # Given a team with a member, and new users to add
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])
    new_ids = [f"bulk-{uuid.uuid4().hex[:8]}" for _ in range(30)]
    email = _email()
    members = [{"user_id": u} for u in new_ids[:15]] + [{"user_id": member["user_id"]}] + [
        {"user_id": u} for u in new_ids[15:]] + [{"user_id": new_ids[0]}, {"user_email": email}]
    # When they are added in bulk, with the existing member and a repeat among them
    reply = api.ok(api.post("/team/bulk_member_add", {
        "team_id": team["team_id"], "members": members, "max_budget_in_team": 3}))
    # Then every other member is added, and the two duplicates fail alone with their error
    assert (reply["team_id"], reply["total_requested"]) == (team["team_id"], 33)
    assert (reply["successful_additions"], reply["failed_additions"]) == (31, 2)
    failed = [r for r in reply["results"] if not r["success"]]
    assert [r["user_id"] for r in failed] == [member["user_id"], new_ids[0]]
    assert "already a member" in failed[0]["error"] and "listed twice" in failed[1]["error"]
    assert all(r["error"] is None for r in reply["results"] if r["success"])
    info = _info(api, team["team_id"])
    assert len(_ids(info["team_info"])) == 2 + 31
    assert info["team_info"] == reply["updated_team"]
    budgets = {m["user_id"]: m["litellm_budget_table"] for m in info["team_memberships"]}
    assert budgets[new_ids[29]]["max_budget"] == 3 and budgets[member["user_id"]] is None


def test_bulk_add_retries_a_chunk_member_by_member_after_a_lost_race(api, monkeypatch):
    # Given a member who joined after the bulk add read the team (the chunk's put fails)
    from teamledger.domain import directory

    team = api.new_team()
    late = api.new_user()["user_id"]
    others = [f"race-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    original = directory.resolve_each

    def resolve_then_someone_joins(batch):
        resolved = original(batch)
        if len(batch) > 1:
            api.ok(api.post("/team/member_add", {"team_id": team["team_id"],
                                                 "member": {"user_id": late}}))
        return resolved

    monkeypatch.setattr(directory, "resolve_each", resolve_then_someone_joins)
    reply = api.ok(api.post("/team/bulk_member_add", {"team_id": team["team_id"], "members": [
        {"user_id": u} for u in [*others[:2], late, *others[2:]]]}))
    # Then only that member fails; the rest of the chunk is added one by one
    assert [r["success"] for r in reply["results"]] == [True, True, False, True, True, True]
    assert set(_ids(_info(api, team["team_id"])["team_info"])) == {
        "default_user_id", late, *others}
    assert len(_audit(f"{team['team_id']}:{late}")) == 1


def test_bulk_add_refuses_an_empty_list_and_more_than_500(api):
    team = api.new_team()
    empty = api.post("/team/bulk_member_add", {"team_id": team["team_id"], "members": []})
    assert empty.status == 400
    too_many = api.post("/team/bulk_member_add", {
        "team_id": team["team_id"], "members": [{"user_id": f"u{i}"} for i in range(501)]})
    assert too_many.status == 400 and "500" in too_many.body["detail"]["error"]
    unknown = api.post("/team/bulk_member_add", {"team_id": f"nope-{uuid.uuid4().hex[:6]}",
                                                 "members": [{"user_id": "u"}]})
    assert unknown.status == 404


# --- self-join ---------------------------------------------------------------------------

def test_self_join_to_an_available_team(api, available_teams):
    # Given an available team and a user who is not in it
    team = api.new_team()
    user = api.new_user()
    available_teams(team["team_id"])
    body = {"team_id": team["team_id"], "member": {"user_id": user["user_id"], "role": "user"}}
    # When the user adds themselves as admin, or with a budget, it is refused
    as_admin = {**body, "member": {"user_id": user["user_id"], "role": "admin"}}
    assert api.post("/team/member_add", as_admin, key=user["key"]).status == 403
    with_budget = body | {"max_budget_in_team": 100}
    assert api.post("/team/member_add", with_budget, key=user["key"]).status == 403
    # When they add someone else, it is refused
    someone = {**body, "member": {"user_id": api.new_user()["user_id"], "role": "user"}}
    assert api.post("/team/member_add", someone, key=user["key"]).status == 403
    # When they add themselves as user, they are in
    joined = api.ok(api.post("/team/member_add", body, key=user["key"]))
    assert _roles(joined)[user["user_id"]] == "user"
    # And again is the usual 400
    assert api.post("/team/member_add", body, key=user["key"]).status == 400


def test_self_join_to_a_team_that_is_not_available_is_403(api, available_teams):
    team, listed = api.new_team(), api.new_team()
    available_teams(listed["team_id"])
    user = api.new_user()
    reply = api.post("/team/member_add", {"team_id": team["team_id"],
                                          "member": {"user_id": user["user_id"]}},
                     key=user["key"])
    assert reply.status == 403
    assert user["user_id"] not in _ids(_info(api, team["team_id"])["team_info"])


# --- audit -------------------------------------------------------------------------------

def test_each_change_writes_one_audit_record_per_changed_object(api):
    # Given a team and a known user
    team = api.new_team()
    team_id = team["team_id"]
    known = api.new_user()
    new_id = f"audited-{uuid.uuid4().hex[:8]}"
    # When a known user and a new one are added
    api.ok(api.post("/team/member_add", {"team_id": team_id, "member": [
        {"user_id": known["user_id"]}, {"user_id": new_id}]}))
    # Then each membership has its created record, the new user too, the team none
    for user_id in (known["user_id"], new_id):
        assert [(r["action"], r["table_name"]) for r in _audit(f"{team_id}:{user_id}")] == [
            ("created", "LiteLLM_TeamMembership")]
    assert [(r["action"], r["table_name"]) for r in _audit(new_id)] == [
        ("created", "LiteLLM_UserTable")]
    assert len(_audit(known["user_id"])) == 1  # /user/new's, nothing more
    assert [r["action"] for r in _audit(team_id)] == ["created"]
    # When one is removed: one deleted record for that membership, nothing else
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": new_id}))
    assert [r["action"] for r in _audit(f"{team_id}:{new_id}")] == ["created", "deleted"]
    assert len(_audit(new_id)) == 1 and [r["action"] for r in _audit(team_id)] == ["created"]


def test_available_teams_are_the_listed_ones_the_caller_is_not_in(api, available_teams):
    # Given two available teams and one that is not
    first, second, closed = api.new_team(), api.new_team(), api.new_team()
    available_teams(first["team_id"], second["team_id"])
    user = api.new_user()

    # Then a new user sees both available teams, and not the closed one
    listed = api.ok(api.get("/team/available", key=user["key"]))
    assert {t["team_id"] for t in listed} == {first["team_id"], second["team_id"]}
    assert closed["team_id"] not in {t["team_id"] for t in listed}

    # When the user joins one of them, it is no longer offered to them
    api.ok(api.post("/team/member_add", {"team_id": first["team_id"],
                                         "member": {"user_id": user["user_id"]}},
                    key=user["key"]))
    listed = api.ok(api.get("/team/available", key=user["key"]))
    assert [t["team_id"] for t in listed] == [second["team_id"]]
    # and the master key's default_user_id, admin of both since it created them, sees none
    assert api.ok(api.get("/team/available")) == []
