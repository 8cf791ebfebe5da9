"""Issue 14's differences with LiteLLM's newest clients, each through the handlers: Team's
`admins`/`members` stay [], every Key has `token_id` and `updated_at`, any key reads itself,
`/user/new` joins `team_id`, a user's teams carry that user's membership and keys only, a key
for an unknown user makes no user, and a user's role binds at once on all their keys."""

import os
import uuid

import boto3

from tests.support.client import MASTER_KEY


def _table():
    return boto3.client("dynamodb"), os.environ["TABLE_NAME"]


def _set_attribute(pk: str, sk: str, name: str, value: str) -> None:
    client, table = _table()
    client.update_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}},
                       UpdateExpression="SET #n = :v", ExpressionAttributeNames={"#n": name},
                       ExpressionAttributeValues={":v": {"S": value}})


def _remove_attribute(pk: str, sk: str, name: str) -> None:
    client, table = _table()
    client.update_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}},
                       UpdateExpression="REMOVE #n", ExpressionAttributeNames={"#n": name})


def _user_row(user_id: str) -> dict | None:
    client, table = _table()
    return client.get_item(TableName=table, Key={"PK": {"S": f"USER#{user_id}"},
                                                 "SK": {"S": "USER"}}).get("Item")


def _membership_records(team_id: str, user_id: str) -> list[str]:
    client, table = _table()
    items = client.query(TableName=table, KeyConditionExpression="PK = :pk",
                         ExpressionAttributeValues={":pk": {"S": f"AUDIT#{team_id}:{user_id}"}})
    return [i["action"]["S"] for i in items["Items"]]


def _user_id() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


# --- 1. admins and members stay [] --------------------------------------------------------

def test_team_admins_and_members_stay_empty_as_members_join(api):
    # Given a team (the master key's default_user_id is its admin) and a user
    team = api.new_team()
    user = api.new_user()
    # When the user joins
    added = api.ok(api.post("/team/member_add", {"team_id": team["team_id"],
                                                 "member": {"user_id": user["user_id"]}}))
    # Then every Team answer keeps the deprecated lists empty, and members_with_roles has both
    info = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))["team_info"]
    listed = next(t for t in api.ok(api.get("/team/list", query={"user_id": user["user_id"]}))
                  if t["team_id"] == team["team_id"])
    for answer in (team, added, info, listed):
        assert answer["admins"] == [] and answer["members"] == []
    assert {(m["user_id"], m["role"]) for m in info["members_with_roles"]} == {
        ("default_user_id", "admin"), (user["user_id"], "user")}


# --- 2. token_id and updated_at on every Key ----------------------------------------------

def test_every_key_answer_has_token_id_and_updated_at(api):
    # Given a user in a team
    team = api.new_team()
    user = api.new_user(teams=[team["team_id"]])
    # When a key of theirs is generated for the team
    made = api.new_key(user_id=user["user_id"], team_id=team["team_id"], key_alias="ci")
    # Then its answer has token_id (the token) and updated_at (its creation, unchanged since)
    assert made["token_id"] == made["token"] and made["updated_at"] == made["created_at"]
    # And so has every other answer that lists it
    by_info = api.ok(api.get("/key/info", query={"key": made["token"]}))["info"]
    of_team = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))["keys"]
    user_info = api.ok(api.get("/user/info", query={"user_id": user["user_id"]}))
    listed = api.ok(api.get("/team/list", query={"user_id": user["user_id"]}))
    answers = [by_info, *of_team, *user_info["keys"], *user_info["teams"][0]["keys"],
               *listed[0]["keys"]]
    mine = [k for k in answers if k["token"] == made["token"]]
    assert len(mine) == 5
    for key in mine:
        assert key["token_id"] == made["token"] and key["updated_at"] == made["created_at"]


def test_a_key_stored_without_updated_at_answers_its_created_at(api):
    # Given a key stored before updated_at was kept
    made = api.new_key()
    _remove_attribute(f"KEY#{made['token']}", "KEY", "updated_at")
    # When it is read
    info = api.ok(api.get("/key/info", query={"key": made["token"]}))["info"]
    # Then updated_at is its created_at
    assert info["updated_at"] == made["created_at"] and info["token_id"] == made["token"]


# --- 3. any key reads itself --------------------------------------------------------------

def test_a_key_with_no_user_and_no_team_reads_itself(api):
    # Given a key with neither a user nor a team, and another such key
    made = api.new_key()
    other = api.new_key()
    assert made["user_id"] is None and made["team_id"] is None
    # When it reads itself by its raw key, by its token, and with no query
    answers = [api.get("/key/info", key=made["key"], query={"key": made["key"]}),
               api.get("/key/info", key=made["key"], query={"key": made["token"]}),
               api.get("/key/info", key=made["key"])]
    # Then each answers the key
    for reply in answers:
        assert reply.status == 200, reply
        assert reply.body["key"] == made["token"] and reply.body["info"]["token"] == made["token"]
    # But another key, or a key that does not exist, stays 403 (no probing)
    assert api.get("/key/info", key=made["key"], query={"key": other["token"]}).status == 403
    assert api.get("/key/info", key=made["key"], query={"key": "0" * 64}).status == 403


def test_a_team_key_reads_itself_but_not_its_teams_other_keys(api):
    # Given a team key and another key of that team
    team = api.new_team()
    made = api.new_key(team_id=team["team_id"])
    other = api.new_key(team_id=team["team_id"])
    # When it reads itself, then the other
    itself = api.get("/key/info", key=made["key"])
    theirs = api.get("/key/info", key=made["key"], query={"key": other["token"]})
    # Then itself is answered and the other refused
    assert itself.status == 200 and itself.body["info"]["team_id"] == team["team_id"]
    assert theirs.status == 403


# --- 4. /user/new with team_id ------------------------------------------------------------

def test_user_new_with_team_id_joins_the_team_and_gives_the_key_that_team(api):
    # Given a team
    team = api.new_team()
    user_id = _user_id()
    # When a user is made with its team_id
    made = api.new_user(user_id=user_id, team_id=team["team_id"])
    # Then the user is a member with role user, and the answer names the team
    assert made["teams"] == [team["team_id"]] and made["team_id"] == team["team_id"]
    info = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))
    assert (user_id, "user") in {(m["user_id"], m["role"])
                                 for m in info["team_info"]["members_with_roles"]}
    # And the key in the answer is a key of that team
    key = api.ok(api.get("/key/info", key=made["key"]))["info"]
    assert key["team_id"] == team["team_id"] and key["user_id"] == user_id
    assert key["token"] in {k["token"] for k in info["keys"]}
    # And the membership was audited as a member add
    assert _membership_records(team["team_id"], user_id) == ["created"]


def test_user_new_with_team_id_and_the_same_team_in_teams_joins_once(api):
    # Given a team named both ways
    team = api.new_team()
    # When the user is made
    made = api.new_user(team_id=team["team_id"], teams=[team["team_id"]])
    # Then they are in it once
    assert made["teams"] == [team["team_id"]]
    info = api.ok(api.get("/user/info", query={"user_id": made["user_id"]}))
    assert info["user_info"]["teams"] == [team["team_id"]]


def test_user_new_with_an_unknown_team_id_is_404_and_makes_nothing(api):
    # Given no such team
    user_id = _user_id()
    # When a user is made with it
    reply = api.post("/user/new", {"user_id": user_id, "team_id": f"nope-{uuid.uuid4().hex}"})
    # Then 404, and there is no such user
    assert reply.status == 404, reply
    assert _user_row(user_id) is None


# --- 5. a user's teams: their membership and keys only ------------------------------------

def test_user_info_teams_carry_that_users_membership_and_keys_only(api):
    # Given a team with two members, each with a key of the team, and one key without a team
    team = api.new_team()
    first = api.new_user(teams=[team["team_id"]])
    second = api.new_user(teams=[team["team_id"]])
    first_key = api.new_key(user_id=first["user_id"], team_id=team["team_id"])
    api.new_key(user_id=second["user_id"], team_id=team["team_id"])
    api.ok(api.post("/team/member_update", {"team_id": team["team_id"],
                                            "user_id": first["user_id"],
                                            "max_budget_in_team": 5}))
    # When the first user's info is read
    info = api.ok(api.get("/user/info", query={"user_id": first["user_id"]}))
    # Then their team entry has their membership (with its budget) and their team key only
    [entry] = info["teams"]
    assert entry["team_id"] == team["team_id"]
    [membership] = entry["team_memberships"]
    assert membership["user_id"] == first["user_id"] and membership["team_id"] == team["team_id"]
    assert membership["litellm_budget_table"]["max_budget"] == 5
    assert [k["token"] for k in entry["keys"]] == [first_key["token"]]
    # And every member is still on the team
    assert {m["user_id"] for m in entry["members_with_roles"]} == {
        "default_user_id", first["user_id"], second["user_id"]}


def test_team_list_of_a_user_shows_that_users_membership_only(api):
    # Given a team with two members
    team = api.new_team()
    first = api.new_user(teams=[team["team_id"]])
    api.new_user(teams=[team["team_id"]])
    # When the first lists their teams with their own key
    listed = api.ok(api.get("/team/list", key=first["key"],
                            query={"user_id": first["user_id"]}))
    # Then the team shows their membership alone, and all its members
    [entry] = listed
    assert [m["user_id"] for m in entry["team_memberships"]] == [first["user_id"]]
    assert len(entry["members_with_roles"]) == 3


# --- 6. a key for an unknown user makes no user -------------------------------------------

def test_key_generate_for_an_unknown_user_makes_no_user_and_the_key_is_only_a_key(api):
    # Given a user id nobody has
    user_id = _user_id()
    # When an admin generates a key for it
    made = api.new_key(user_id=user_id)
    # Then the key carries that user_id, and no user was made
    assert made["user_id"] == user_id
    assert _user_row(user_id) is None
    assert api.get("/user/info", query={"user_id": user_id}).status == 404
    # And the key reads itself, but acts as no internal_user
    assert api.get("/key/info", key=made["key"]).status == 200
    assert api.get("/user/info", key=made["key"]).status == 403
    assert api.post("/key/generate", {}, key=made["key"]).status == 403
    assert api.get("/team/available", key=made["key"]).status == 403


def test_a_team_key_for_an_unknown_user_acts_as_its_teams_key(api):
    # Given a key of a team for a user who has no row
    team = api.new_team()
    made = api.new_key(user_id=_user_id(), team_id=team["team_id"])
    # When it reads its team, and lists teams
    info = api.get("/team/info", key=made["key"], query={"team_id": team["team_id"]})
    page = api.get("/v2/team/list", key=made["key"])
    # Then it sees its team, as a team key does, and acts as no user
    assert info.status == 200, info
    assert page.status == 200 and [t["team_id"] for t in page.body["teams"]] == [team["team_id"]]
    assert api.get("/user/info", key=made["key"]).status == 403


def test_a_key_for_an_unknown_user_gains_the_role_when_the_user_is_made(api):
    # Given a key for a user who has no row
    user_id = _user_id()
    made = api.new_key(user_id=user_id)
    assert api.get("/user/info", key=made["key"]).status == 403
    # When the user is made
    api.new_user(user_id=user_id)
    # Then the key acts with the user's role from the next request on
    reply = api.get("/user/info", key=made["key"])
    assert reply.status == 200 and reply.body["user_info"]["user_role"] == "internal_user"


def test_a_gateway_key_of_an_unknown_user_calls_the_gateway_routes(api):
    # Given a key limited to the /spend/* routes, for a user who has no row, and a key to charge
    gateway = api.new_key(user_id=_user_id(), allowed_routes=["/spend/*"])
    end_user = api.new_key()
    # When the gateway reserves and releases
    held = api.post("/spend/reserve", {"token": end_user["token"], "amount": 0.01},
                    key=gateway["key"])
    # Then it may, as its key allows
    assert held.status == 200, held
    released = api.post("/spend/release", {"reservation_id": held.body["reservation_id"]},
                        key=gateway["key"])
    assert released.status == 200, released


# --- 8. a changed role binds at once ------------------------------------------------------

def test_a_changed_role_binds_at_once_on_every_key_of_the_user(api):
    # Given an internal_user with two keys
    user = api.new_user()
    second = api.new_key(user_id=user["user_id"])
    for key in (user["key"], second["key"]):
        assert api.get("/team/filter/ui", key=key).status == 403
    # When their role becomes proxy_admin_viewer (as POST /user/update writes it: the user row)
    _set_attribute(f"USER#{user['user_id']}", "USER", "user_role", "proxy_admin_viewer")
    # Then both keys read as viewers from the next request on
    for key in (user["key"], second["key"]):
        assert api.get("/team/filter/ui", key=key).status == 200
    # And back to internal_user: refused again at once
    _set_attribute(f"USER#{user['user_id']}", "USER", "user_role", "internal_user")
    for key in (user["key"], second["key"]):
        assert api.get("/team/filter/ui", key=key).status == 403


def test_a_stale_role_copied_on_a_key_grants_nothing(api):
    # Given a key stored with a copy of a role its user no longer has (keys made before)
    user = api.new_user()
    _set_attribute(f"KEY#{api.ok(api.get('/key/info', key=user['key']))['key']}", "KEY",
                   "user_role", "proxy_admin")
    # When it calls an admin route
    reply = api.post("/team/new", {"team_alias": "stale"}, key=user["key"])
    # Then its user's role decides: 403
    assert reply.status == 403, reply


def test_the_master_key_still_acts_as_admin(api):
    # Given the master key (no stored key, no user row read)
    # When it reads a user
    reply = api.get("/user/info", key=MASTER_KEY, query={"user_id": api.new_user()["user_id"]})
    # Then it is an admin
    assert reply.status == 200
