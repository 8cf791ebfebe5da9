"""Removing a member (issue 13, defect 6): their keys of that team go in the same change, each
key's deletion audited (as LiteLLM 1.110 does), so a removed member's key neither reads the team
nor charges it. A member with more keys than one transaction holds is removed in chunks: keys
first, the member with the last of them."""

import hashlib

import pytest


def _token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _records(api, object_id: str) -> list[dict]:
    return api.ok(api.get("/audit", query={"object_id": object_id, "limit": "100"}))["data"]


def _info(api, team_id: str) -> dict:
    return api.ok(api.get("/team/info", query={"team_id": team_id}))


@pytest.fixture
def team_with_member(api):
    """A team whose member (a team admin, so they may make team keys) made a key for it."""
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"], "role": "admin"}])
    key = api.new_key(key=member["key"], team_id=team["team_id"])
    return team["team_id"], member, key


def test_a_removed_members_team_key_stops_working(api, team_with_member):
    team_id, member, key = team_with_member
    assert api.get("/team/info", query={"team_id": team_id}, key=key["key"]).status == 200
    # When the member is removed
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": member["user_id"]}))
    # Then their team key no longer reads the team (nor its keys and memberships)
    reply = api.get("/team/info", query={"team_id": team_id}, key=key["key"])
    assert reply.status == 401, reply
    # And no longer charges it
    assert api.post("/spend/track", {"token": key["token"], "spend": 1.0}).status == 404
    info = _info(api, team_id)
    assert info["team_info"]["spend"] == 0.0
    assert key["token"] not in [k["token"] for k in info["keys"]]


def test_every_key_of_the_member_in_that_team_goes_and_no_other(api):
    # Given a member with a key they made for the team, one an admin made them for it, a key
    # of their own (no team) and a key for another team; and another member's key in the team
    member, other = api.new_user(), api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"], "role": "admin"},
                                            {"user_id": other["user_id"]}])["team_id"]
    elsewhere = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])["team_id"]
    theirs = [api.new_key(key=member["key"], team_id=team)["token"],
              api.new_key(user_id=member["user_id"], team_id=team)["token"]]
    kept = [_token(member["key"]), api.new_key(user_id=member["user_id"])["token"],
            api.new_key(user_id=member["user_id"], team_id=elsewhere)["token"],
            api.new_key(user_id=other["user_id"], team_id=team)["token"],
            api.new_key(team_id=team)["token"]]  # the team's own key (no user)
    # When the member is removed
    api.ok(api.post("/team/member_delete", {"team_id": team, "user_id": member["user_id"]}))
    # Then their keys of that team are gone, and every other key is still there
    for token in theirs:
        assert api.get("/key/info", query={"key": token}).status == 404
    for token in kept:
        assert api.get("/key/info", query={"key": token}).status == 200
    # And the member still has their own key and their other team
    assert api.get("/team/info", query={"team_id": elsewhere}, key=member["key"]).status == 200


def test_each_deleted_key_is_audited_with_the_membership(api, team_with_member):
    team_id, member, key = team_with_member
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": member["user_id"]},
                    headers={"litellm-changed-by": "remover"}))

    [deleted_key] = [r for r in _records(api, key["token"]) if r["action"] == "deleted"]
    assert deleted_key["table_name"] == "LiteLLM_VerificationToken"
    assert deleted_key["before_value"]["token"] == key["token"]
    assert deleted_key["before_value"]["team_id"] == team_id
    assert deleted_key["updated_values"] == {}
    assert deleted_key["changed_by"] == "remover"
    [membership] = [r for r in _records(api, f"{team_id}:{member['user_id']}")
                    if r["action"] == "deleted"]
    assert membership["changed_by"] == "remover"


@pytest.fixture
def commits(monkeypatch) -> list[int]:
    """The number of writes of each transaction committed from now on."""
    from teamledger.store.table import Transaction

    sizes: list[int] = []
    commit = Transaction.commit

    def counted(tx):
        sizes.append(len(tx))
        return commit(tx)

    monkeypatch.setattr(Transaction, "commit", counted)
    return sizes


def test_a_member_with_more_keys_than_one_transaction_holds_is_removed_whole(api, commits):
    # Given a member with 70 keys in the team (a transaction holds 100 items: 3 per key)
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"], "role": "admin"}])
    team_id = team["team_id"]
    tokens = [api.new_key(user_id=member["user_id"], team_id=team_id)["token"]
              for _ in range(70)]
    del commits[:]
    # When the member is removed
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": member["user_id"]}))
    # Then it took transactions DynamoDB accepts: 33 keys, 33 more, the member with the last 4
    assert commits == [99, 99, 17]
    # And every one of them is gone, each with its record, and so is the member
    info = _info(api, team_id)
    assert not [k for k in info["keys"] if k["user_id"] == member["user_id"]]
    assert member["user_id"] not in {m["user_id"] for m in info["team_info"]["members_with_roles"]}
    for token in tokens:
        assert api.get("/key/info", query={"key": token}).status == 404
        assert [r["action"] for r in _records(api, token)] == ["deleted", "created"]


def test_a_member_with_more_than_31_keys_leaves_in_a_transaction_of_their_own(api, commits):
    member = api.new_user()
    team_id = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])["team_id"]
    for _ in range(32):
        api.new_key(user_id=member["user_id"], team_id=team_id)
    del commits[:]

    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": member["user_id"]}))

    assert commits == [96, 5]
    assert not [k for k in _info(api, team_id)["keys"] if k["user_id"] == member["user_id"]]


def test_a_removed_members_reservation_settles_and_their_key_reserves_no_more(api):
    # Given a member's team key holding a reservation on the team's budget
    member = api.new_user()
    team = api.new_team(max_budget=10.0,
                        members_with_roles=[{"user_id": member["user_id"], "role": "admin"}])
    team_id = team["team_id"]
    key = api.new_key(key=member["key"], team_id=team_id)
    held = api.ok(api.post("/spend/reserve", {"token": key["token"], "amount": 2.0}))
    # When the member is removed while the call is in flight
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": member["user_id"]}))
    # Then their key reserves nothing more
    reply = api.post("/spend/reserve", {"token": key["token"], "amount": 1.0})
    assert reply.status == 401 and reply.body["detail"]["type"] == "invalid_user_key", reply
    # And the call already admitted settles on the team (it happened), leaving nothing held
    settled = api.ok(api.post("/spend/settle", {"reservation_id": held["reservation_id"],
                                                "spend": 1.5}))
    assert settled["scopes"]["team"]["spend"] == 1.5
    assert settled["scopes"]["team"]["reserved"] == 0.0
    assert _info(api, team_id)["team_info"]["spend"] == 1.5


def test_a_key_made_after_the_removal_by_the_removed_team_admin_is_refused(api, team_with_member):
    team_id, member, _ = team_with_member
    api.ok(api.post("/team/member_delete", {"team_id": team_id, "user_id": member["user_id"]}))

    reply = api.post("/key/generate", {"team_id": team_id}, key=member["key"])

    assert reply.status == 403, reply


def test_a_team_key_made_while_its_maker_is_removed_is_refused(api, team_with_member,
                                                              monkeypatch):
    # Given a team admin making a key for the team, removed between the read that found them
    # team admin and the write of the key
    from teamledger.domain import keys as key_rules
    from teamledger.domain import members as member_rules
    from teamledger.domain.callers import Actor, Caller
    from teamledger.http.models import MemberDeleteRequest

    team_id, member, _ = team_with_member
    commit = key_rules._commit_new_key
    master = Actor(Caller("master", "default_user_id", "proxy_admin", is_master=True), None)

    def removed_meanwhile(*args, **kwargs):
        monkeypatch.setattr(key_rules, "_commit_new_key", commit)
        member_rules.remove_member(master, MemberDeleteRequest(
            team_id=team_id, user_id=member["user_id"]))
        return commit(*args, **kwargs)

    monkeypatch.setattr(key_rules, "_commit_new_key", removed_meanwhile)
    # When the key is written
    reply = api.post("/key/generate", {"team_id": team_id}, key=member["key"])
    # Then it is refused, and the removed member holds no key of the team
    assert reply.status == 403, reply
    assert not [k for k in _info(api, team_id)["keys"] if k["user_id"] == member["user_id"]]


def test_removing_a_member_with_no_keys_is_as_before(api):
    member = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": member["user_id"]}])

    answer = api.ok(api.post("/team/member_delete", {"team_id": team["team_id"],
                                                     "user_id": member["user_id"]}))

    assert member["user_id"] not in {m["user_id"] for m in answer["members_with_roles"]}
