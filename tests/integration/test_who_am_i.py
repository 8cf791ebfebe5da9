"""GET /key/info with no query: who am I. The caller's own key with its user's role, which the
console reads to decide what to show; the master key answers as `default_user_id`."""

import hashlib
import json

from tests.support.client import MASTER_KEY


def who_am_i(api, key):
    return api.ok(api.get("/key/info", key=key))


def test_the_master_key_answers_as_the_default_user_and_proxy_admin(api):
    # When the master key asks who it is
    answer = who_am_i(api, MASTER_KEY)
    # Then it is the default user, a proxy admin, named by its label
    info = answer["info"]
    assert (answer["key"], info["user_id"], info["user_role"]) == (
        "master_key", "default_user_id", "proxy_admin")
    # And it is no stored key: no name, no times, nothing derived from the key itself
    assert (info["key_name"], info["created_at"], info["updated_at"]) == (None, None, None)
    assert hashlib.sha256(MASTER_KEY.encode()).hexdigest() not in json.dumps(answer)
    assert MASTER_KEY[-4:] not in json.dumps(answer)


def test_a_user_key_answers_itself_with_the_users_role(api):
    # Given a viewer and an internal user, each with a key
    for role in ("proxy_admin_viewer", "internal_user", "internal_user_viewer", "proxy_admin"):
        user = api.new_user(role)
        # When the key asks who it is
        answer = who_am_i(api, user["key"])
        # Then it is that key, of that user, with the user's role
        assert answer["key"] == hashlib.sha256(user["key"].encode()).hexdigest()
        assert (answer["info"]["user_id"], answer["info"]["user_role"]) == (
            user["user_id"], role)
        assert answer["info"]["key_name"] == f"sk-...{user['key'][-4:]}"


def test_a_changed_role_is_answered_at_once(api):
    # Given an internal user
    user = api.new_user("internal_user")
    # When an admin makes them a viewer
    api.ok(api.post("/user/update", {"user_id": user["user_id"],
                                     "user_role": "proxy_admin_viewer"}))
    # Then their key says so at once
    assert who_am_i(api, user["key"])["info"]["user_role"] == "proxy_admin_viewer"


def test_a_key_without_a_user_has_no_role(api):
    # Given a key of no user
    key = api.new_key()["key"]
    # When it asks who it is, Then it has no user and no role
    info = who_am_i(api, key)["info"]
    assert (info["user_id"], info["user_role"]) == (None, None)


def test_another_keys_answer_tells_no_role(api):
    # Given a viewer's key
    viewer = api.new_user("proxy_admin_viewer")
    # When an admin reads it by its token
    token = hashlib.sha256(viewer["key"].encode()).hexdigest()
    info = api.ok(api.get("/key/info", query={"key": token}))["info"]
    # Then it is the viewer's key, and the role (the caller's own only) is not told
    assert (info["user_id"], info["user_role"]) == (viewer["user_id"], None)


def test_the_master_key_by_query_is_still_no_stored_key(api):
    # When the master key names itself in the query, Then it is no stored key
    reply = api.get("/key/info", query={"key": MASTER_KEY})
    assert reply.status == 404
    assert MASTER_KEY not in json.dumps(reply.body)
