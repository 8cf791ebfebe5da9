"""Keys limited to some routes (`allowed_routes`, LiteLLM's key field): such a key calls those
routes only, whatever its owner's role, so a host that needs a few routes holds no more."""

import pytest


@pytest.fixture
def limited(api) -> dict:
    """alice, admin of her team, with a key limited to /key/info and the /team/* routes."""
    alice = api.new_user()
    team = api.new_team(members_with_roles=[{"user_id": alice["user_id"], "role": "admin"}])
    key = api.new_key(user_id=alice["user_id"], allowed_routes=["/key/info", "/team/*"])
    return {"alice": alice, "team": team, "key": key}


def test_a_limited_key_calls_its_routes(api, limited):
    # Given alice's limited key; when it calls the routes it names
    key, team_id = limited["key"]["key"], limited["team"]["team_id"]
    # Then they answer as for any key of hers, and the key shows its limit
    info = api.ok(api.get("/key/info", key=key))
    assert info["info"]["allowed_routes"] == ["/key/info", "/team/*"]
    api.ok(api.get("/team/info", key=key, query={"team_id": team_id}))
    api.ok(api.post("/team/update", {"team_id": team_id, "team_alias": "renamed"}, key=key))
    api.ok(api.get("/team/list", key=key, query={"user_id": limited["alice"]["user_id"]}))


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/user/info"),
    ("GET", "/v2/team/list"),  # /team/* is a prefix of paths, not a part of one
    ("POST", "/key/generate"),
])
def test_a_limited_key_is_refused_elsewhere_whatever_its_role(api, limited, method, path):
    # When alice's limited key calls a route it does not name (one her role may call)
    params = {"user_id": limited["alice"]["user_id"]} if method == "GET" else None
    reply = api.call(method, path, key=limited["key"]["key"], query=params,
                     body={} if method == "POST" else None)
    # Then it is refused, saying which routes the key may call
    assert reply.status == 403, reply
    assert reply.body == {"detail": {"error": "This key may only call /key/info, /team/*."}}
    # While her own unlimited key still may
    assert api.call(method, path, key=limited["alice"]["key"], query=params,
                    body={} if method == "POST" else None).status == 200


def test_a_key_without_a_limit_is_not_limited(api):
    user = api.new_user()
    key = api.new_key(user_id=user["user_id"])
    assert api.ok(api.get("/key/info", key=key["key"]))["info"]["allowed_routes"] == []
    api.ok(api.get("/user/info", key=key["key"], query={"user_id": user["user_id"]}))


@pytest.mark.parametrize("routes", [
    ["team/new"], ["/team/*/info"], ["/"], ["/team new"], ["/a"] * 101, "/key/info"])
def test_a_route_that_is_no_path_is_422_and_makes_no_key(api, routes):
    user = api.new_user()
    reply = api.post("/key/generate", {"user_id": user["user_id"], "allowed_routes": routes})
    assert reply.status == 422, reply
    assert reply.body["detail"][0]["loc"][:2] == ["body", "allowed_routes"]
    # And no key was made: the user has only the key /user/new gave them
    keys = api.ok(api.get("/user/info", query={"user_id": user["user_id"]}))["keys"]
    assert [k["token"] for k in keys] == [api.ok(api.get(
        "/key/info", key=user["key"]))["key"]]
