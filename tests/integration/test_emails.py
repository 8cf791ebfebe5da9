"""One email, one user (issue 13, defects 3, 4 and 13), through the handlers against moto.

- Concurrent adds of one new email make one user: the losers of the race re-read and use the
  user that won (defect 3).
- An email that belongs to a user cannot be named under another `user_id` (400), on every
  route that creates or names a user with an email: /user/new, /team/new, member_add,
  bulk_member_add; an existing user named with an email that is not theirs is 400 too, so no
  roster shows an email against someone else's id (defect 4).
- A self-join names the caller's own email or none (defect 13).
- Emails match case-insensitively; users stored before emails had an item of their own are
  found, and their emails stay taken.
"""

import os
import uuid

import boto3
import pytest

from tests.support.legacy import user_without_email_item
from tests.support.workers import call, worker_pool

WORKERS = 6


def _email(tag: str = "mail") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def _users_with_email(email: str) -> list[str]:
    """Every user row whose email is `email` (any case), read from the whole table."""
    client = boto3.client("dynamodb")
    found, start = [], None
    while True:
        page = client.scan(TableName=os.environ["TABLE_NAME"],
                           FilterExpression="SK = :user", ExpressionAttributeValues={
                               ":user": {"S": "USER"}}, **({"ExclusiveStartKey": start}
                                                           if start else {}))
        found += [i["user_id"]["S"] for i in page["Items"]
                  if i.get("user_email", {}).get("S", "").lower() == email.lower()]
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _user_records(user_id: str) -> list[dict]:
    return boto3.client("dynamodb").query(
        TableName=os.environ["TABLE_NAME"], KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{user_id}"}})["Items"]


def _roster(api, team_id: str) -> dict[str, str | None]:
    team = api.ok(api.get("/team/info", query={"team_id": team_id}))["team_info"]
    return {m["user_id"]: m["user_email"] for m in team["members_with_roles"]}


def _add(api, team_id: str, member: dict | list, **kwargs):
    return api.post("/team/member_add", {"team_id": team_id, "member": member}, **kwargs)


def _user_exists(api, user_id: str) -> bool:
    return api.get("/user/info", query={"user_id": user_id}).status == 200


def _team_admin(api) -> tuple[dict, str]:
    """An internal user and a team they are team admin of."""
    admin = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": admin["user_id"], "role": "admin"}])
    return admin, team["team_id"]


# --- defect 3: concurrent adds of one new email ---------------------------------------------

@pytest.fixture(scope="module")
def pool(moto_endpoint):
    with worker_pool(WORKERS) as pool:
        yield pool


def test_concurrent_adds_of_one_new_email_to_six_teams_make_one_user(api, pool):
    # Given six teams and an email nobody has
    teams = [api.new_team()["team_id"] for _ in range(6)]
    email = _email("racer")
    # When the email is added to all six at once, one request each
    bodies = [{"team_id": t, "member": {"user_email": email}} for t in teams]
    replies = list(pool.map(call, ["POST"] * 6, ["/team/member_add"] * 6, bodies))
    # Then every add succeeds (or asks for a retry), and there is one user with that email
    assert all(status in (200, 503) for status, _ in replies), replies
    users = _users_with_email(email)
    assert len(users) == 1, users
    # And every team that took the add has that user, created once
    for (status, _), team_id in zip(replies, teams, strict=True):
        if status == 200:
            assert _roster(api, team_id).get(users[0]) == email
    assert len(_user_records(users[0])) == 1
    # And later adds by that email work
    later = api.new_team()["team_id"]
    added = api.ok(_add(api, later, {"user_email": email}))
    assert [u["user_id"] for u in added["updated_users"]] == users


def test_an_add_that_lost_the_race_for_a_new_email_uses_the_user_that_won(api, monkeypatch):
    # Given two teams, an email nobody has, and another add of it that lands between this
    # add's look-up of the email and its commit
    from teamledger.domain import directory

    first, second = api.new_team()["team_id"], api.new_team()["team_id"]
    email = _email("late")
    original = directory.resolve_each
    raced = []

    def resolve_then_someone_else_adds(members):
        resolved = original(members)
        if not raced:
            raced.append(None)  # once: the other add resolves through here too
            raced[0] = api.ok(_add(api, second, {"user_email": email}))
        return resolved

    monkeypatch.setattr(directory, "resolve_each", resolve_then_someone_else_adds)
    # When this add commits
    added = api.ok(_add(api, first, {"user_email": email}))
    monkeypatch.undo()
    # Then it added the user the other add created: one user, in both teams
    winner = raced[0]["updated_users"][0]["user_id"]
    assert [u["user_id"] for u in added["updated_users"]] == [winner]
    assert _users_with_email(email) == [winner]
    assert winner in _roster(api, first) and winner in _roster(api, second)
    assert len(_user_records(winner)) == 1
    # And the email keeps working
    api.ok(_add(api, api.new_team()["team_id"], {"user_email": email.upper()}))


# --- defect 4: an email belongs to one user ------------------------------------------------

def test_a_team_admin_naming_someone_elses_email_under_a_new_user_id_is_400(api):
    # Given a user with an email, and a team admin of another team
    owner = api.new_user(user_email=_email("owner"))
    admin, team_id = _team_admin(api)
    junk = f"junk-{uuid.uuid4().hex[:8]}"
    # When the team admin adds a new user id with that email
    reply = _add(api, team_id, {"user_id": junk, "user_email": owner["user_email"]},
                 key=admin["key"])
    # Then it is 400, and nothing was created or added
    assert reply.status == 400, reply
    assert "belongs to another user" in reply.body["detail"]["error"]
    assert not _user_exists(api, junk) and junk not in _roster(api, team_id)
    assert _users_with_email(owner["user_email"]) == [owner["user_id"]]
    # And adds of the real user by email still work, in any team
    for team in (team_id, api.new_team()["team_id"]):
        added = api.ok(_add(api, team, {"user_email": owner["user_email"]}))
        assert [u["user_id"] for u in added["updated_users"]] == [owner["user_id"]]


def test_an_existing_user_named_with_someone_elses_email_is_400(api):
    owner = api.new_user(user_email=_email("owner"))
    other = api.new_user(user_email=_email("other"))
    team_id = api.new_team()["team_id"]
    reply = _add(api, team_id, {"user_id": other["user_id"], "user_email": owner["user_email"]})
    assert reply.status == 400, reply
    assert other["user_id"] not in _roster(api, team_id)


def test_an_existing_user_named_with_an_email_that_is_not_theirs_is_400(api):
    # Given a user with an email and one without (keys made them, say)
    with_email = api.new_user(user_email=_email("mine"))
    without = api.new_user()
    team_id = api.new_team()["team_id"]
    # When either is named with an email nobody has
    for user in (with_email, without):
        reply = _add(api, team_id, {"user_id": user["user_id"], "user_email": _email("new")})
        # Then it is 400: a roster never shows an email against someone else's id
        assert reply.status == 400, reply
        assert user["user_id"] not in _roster(api, team_id)
    # And their own email, in any case, is fine (the stored one is shown)
    api.ok(_add(api, team_id, {"user_id": with_email["user_id"],
                               "user_email": with_email["user_email"].upper()}))
    assert _roster(api, team_id)[with_email["user_id"]] == with_email["user_email"]


def test_user_new_with_an_email_a_user_has_is_400_whatever_its_case(api):
    owner = api.new_user(user_email=_email("owner"))
    for email in (owner["user_email"], owner["user_email"].upper()):
        user_id = f"second-{uuid.uuid4().hex[:8]}"
        reply = api.post("/user/new", {"user_id": user_id, "user_email": email})
        assert reply.status == 400, reply
        assert "belongs to another user" in reply.body["detail"]["error"]
        assert not _user_exists(api, user_id)
    assert _users_with_email(owner["user_email"]) == [owner["user_id"]]


def test_an_email_nobody_has_is_claimed_once(api):
    # Given a team admin who adds a new user id with an email nobody has yet
    admin, team_id = _team_admin(api)
    email = _email("unclaimed")
    first = f"first-{uuid.uuid4().hex[:8]}"
    api.ok(_add(api, team_id, {"user_id": first, "user_email": email}, key=admin["key"]))
    # Then that email is the new user's: nobody else gets it, by any route or case
    second = f"second-{uuid.uuid4().hex[:8]}"
    assert api.post("/user/new", {"user_id": second, "user_email": email}).status == 400
    other_team = api.new_team()["team_id"]
    assert _add(api, other_team, {"user_id": second, "user_email": email.upper()}).status == 400
    assert api.post("/team/new", {"members_with_roles": [
        {"user_id": second, "user_email": email}]}).status == 400
    assert _users_with_email(email) == [first]
    # And adds by that email find that user
    added = api.ok(_add(api, other_team, {"user_email": email.upper()}))
    assert [u["user_id"] for u in added["updated_users"]] == [first]


def test_team_new_with_someone_elses_email_under_another_user_id_is_400(api):
    owner = api.new_user(user_email=_email("owner"))
    team_id = f"squat-{uuid.uuid4().hex[:8]}"
    junk = f"junk-{uuid.uuid4().hex[:8]}"
    reply = api.post("/team/new", {"team_id": team_id, "members_with_roles": [
        {"user_id": junk, "user_email": owner["user_email"]}]})
    assert reply.status == 400, reply
    assert api.get("/team/info", query={"team_id": team_id}).status == 404
    assert not _user_exists(api, junk)


def test_bulk_add_refuses_only_the_member_named_with_someone_elses_email(api):
    owner = api.new_user(user_email=_email("owner"))
    team_id = api.new_team()["team_id"]
    junk, fine = f"junk-{uuid.uuid4().hex[:8]}", f"fine-{uuid.uuid4().hex[:8]}"
    reply = api.ok(api.post("/team/bulk_member_add", {"team_id": team_id, "members": [
        {"user_id": fine}, {"user_id": junk, "user_email": owner["user_email"]},
        {"user_email": owner["user_email"].upper()}]}))
    assert [r["success"] for r in reply["results"]] == [True, False, True]
    assert "belongs to another user" in reply["results"][1]["error"]
    assert set(_roster(api, team_id)) == {"default_user_id", fine, owner["user_id"]}
    assert not _user_exists(api, junk)


def test_one_new_email_under_two_user_ids_in_one_request_is_400_and_nothing_is_added(api):
    team_id = api.new_team()["team_id"]
    email = _email("twice")
    first, second = (f"twin-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for members in ([{"user_id": first, "user_email": email},
                     {"user_id": second, "user_email": email.upper()}],
                    [{"user_email": email}, {"user_id": second, "user_email": email}]):
        reply = _add(api, team_id, members)
        assert reply.status == 400, reply
    assert set(_roster(api, team_id)) == {"default_user_id"}
    assert _users_with_email(email) == []


def test_adds_by_email_match_whatever_its_case(api):
    owner = api.new_user(user_email=_email("Mixed"))
    team_id = api.new_team()["team_id"]
    added = api.ok(_add(api, team_id, {"user_email": owner["user_email"].lower()}))
    assert [u["user_id"] for u in added["updated_users"]] == [owner["user_id"]]
    assert _roster(api, team_id)[owner["user_id"]] == owner["user_email"]


def test_the_largest_adds_of_new_users_with_emails_fit_one_transaction(api, fresh_table):
    # member_add's most members, each a new user with an email, all or nothing in one go
    from teamledger.http.declared import MAX_MEMBERS_PER_ADD, TeamNewRequest

    team_id = api.new_team()["team_id"]
    emails = [_email("many") for _ in range(MAX_MEMBERS_PER_ADD)]
    added = api.ok(_add(api, team_id, [{"user_email": e} for e in emails]))
    assert len(added["updated_users"]) == MAX_MEMBERS_PER_ADD
    # And /team/new's most members, with the master key's own user (new in a fresh table)
    most = TeamNewRequest.model_fields["members_with_roles"].metadata[0].max_length
    team = api.ok(api.post("/team/new", {"members_with_roles": [
        {"user_id": f"n-{uuid.uuid4().hex[:8]}", "user_email": _email("team")}
        for _ in range(most)]}))
    assert len(team["members_with_roles"]) == most + 1


# --- defect 13: a self-join names the caller's own email or none ---------------------------

def test_self_join_with_an_email_that_is_not_the_callers_is_400(api, available_teams):
    # Given an available team, a user with an email, and another user's email
    team_id = api.new_team()["team_id"]
    available_teams(team_id)
    joiner = api.new_user(user_email=_email("joiner"))
    someone = api.new_user(user_email=_email("someone"))
    body = {"user_id": joiner["user_id"], "role": "user"}
    # When they join with someone else's email, or one nobody has, it is 400 and not added
    for email in (someone["user_email"], _email("unregistered")):
        reply = _add(api, team_id, body | {"user_email": email}, key=joiner["key"])
        assert reply.status == 400, reply
        assert joiner["user_id"] not in _roster(api, team_id)
    # When they join with their own email (any case), they are in, with that email
    api.ok(_add(api, team_id, body | {"user_email": joiner["user_email"].upper()},
                key=joiner["key"]))
    assert _roster(api, team_id)[joiner["user_id"]] == joiner["user_email"]


def test_self_join_of_a_user_without_an_email_takes_none(api, available_teams):
    team_id = api.new_team()["team_id"]
    available_teams(team_id)
    joiner = api.new_user()
    body = {"user_id": joiner["user_id"], "role": "user"}
    assert _add(api, team_id, body | {"user_email": _email("claim")},
                key=joiner["key"]).status == 400
    api.ok(_add(api, team_id, body, key=joiner["key"]))
    assert _roster(api, team_id)[joiner["user_id"]] is None


# --- users stored before emails had items of their own -------------------------------------

def test_users_from_before_email_items_are_found_and_keep_their_emails(api):
    # Given a user stored without an email item
    legacy, email = f"legacy-{uuid.uuid4().hex[:8]}", _email("legacy")
    user_without_email_item(legacy, email)
    team_id = api.new_team()["team_id"]
    # Then an add by that email finds them
    added = api.ok(_add(api, team_id, {"user_email": email.upper()}))
    assert [u["user_id"] for u in added["updated_users"]] == [legacy]
    # And nobody else gets that email
    assert api.post("/user/new", {"user_email": email}).status == 400
    assert _add(api, api.new_team()["team_id"], {"user_id": f"x-{uuid.uuid4().hex[:6]}",
                                                 "user_email": email}).status == 400
    assert _users_with_email(email) == [legacy]


def test_an_email_two_stored_users_share_is_400_asking_for_the_user_id(api):
    # Given two users stored, before email items, with one email
    email = _email("shared")
    first, second = (f"legacy-{uuid.uuid4().hex[:8]}" for _ in range(2))
    user_without_email_item(first, email)
    user_without_email_item(second, email)
    team_id = api.new_team()["team_id"]
    # Then an add by that email cannot tell which: 400 asking for the user_id
    reply = _add(api, team_id, {"user_email": email})
    assert reply.status == 400 and "user_id" in reply.body["detail"]["error"]
    # And each is added by id (with their email or none)
    api.ok(_add(api, team_id, [{"user_id": first, "user_email": email}, {"user_id": second}]))
