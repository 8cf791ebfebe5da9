"""`team_member_permissions` (issue 14): the key routes a team's plain members may call for the
team's keys. By default `/key/info` and `/key/list` (members read their team's keys, as in
LiteLLM); team admins may call every key route; /team/permissions_list and
/team/permissions_update read and set them."""

import pytest

ALL_ROUTES = ["/key/generate", "/key/update", "/key/delete", "/key/info", "/key/regenerate",
              "/key/list"]
DEFAULT = ["/key/info", "/key/list"]


class Team:
    """A team with an admin and a plain member (users with keys of their own)."""

    def __init__(self, api, **fields):
        self.api = api
        self.admin, self.member = api.new_user(), api.new_user()
        self.team_id = api.new_team(members_with_roles=[
            {"user_id": self.admin["user_id"], "role": "admin"},
            {"user_id": self.member["user_id"], "role": "user"}], **fields)["team_id"]

    def key(self) -> str:
        """A fresh key of the team (of no user), made by an admin."""
        return str(self.api.new_key(team_id=self.team_id)["token"])

    def permit(self, routes: list[str]) -> None:
        self.api.ok(self.api.post("/team/permissions_update", {
            "team_id": self.team_id, "team_member_permissions": routes}))


@pytest.fixture
def team(api) -> Team:
    return Team(api)


def _audit(api, team_id: str) -> list[dict]:
    return api.ok(api.get("/audit", query={"object_id": team_id}))["data"]


def test_a_new_team_lets_its_members_read_its_keys(api, team):
    # Given a team made without team_member_permissions
    # When its team admin asks for them
    reply = api.get("/team/permissions_list", query={"team_id": team.team_id},
                    key=team.admin["key"])

    # Then they are the default, and the Team says the same
    assert api.ok(reply) == {"team_id": team.team_id, "team_member_permissions": DEFAULT,
                             "all_available_permissions": ALL_ROUTES}
    info = api.ok(api.get("/team/info", query={"team_id": team.team_id}))
    assert info["team_info"]["team_member_permissions"] == DEFAULT


def test_team_new_and_update_store_the_permissions(api):
    # Given a team made with permissions (a route named twice counts once)
    team = api.new_team(team_member_permissions=["/key/delete", "/key/info", "/key/delete"])
    assert team["team_member_permissions"] == ["/key/delete", "/key/info"]

    # When /team/update changes them
    reply = api.post("/team/update", {"team_id": team["team_id"],
                                      "team_member_permissions": ["/key/list"]})

    # Then the team answers the new list, and permissions_list agrees
    assert api.ok(reply)["data"]["team_member_permissions"] == ["/key/list"]
    listed = api.ok(api.get("/team/permissions_list", query={"team_id": team["team_id"]}))
    assert listed["team_member_permissions"] == ["/key/list"]


@pytest.mark.parametrize("route", ["/team/new", "/team/update", "/team/permissions_update"])
def test_an_unknown_route_name_is_422_and_changes_nothing(api, team, route):
    # Given a body naming a route that is not a key route
    body = {"team_member_permissions": ["/key/info", "/team/delete"]}
    if route != "/team/new":
        body["team_id"] = team.team_id
    before = _audit(api, team.team_id)

    # When it is sent
    reply = api.post(route, body)

    # Then it is a 422 on the field, and nothing is written
    assert reply.status == 422, reply
    assert "team_member_permissions" in reply.body["detail"][0]["loc"]
    assert _audit(api, team.team_id) == before


def test_a_plain_member_reads_the_teams_keys_by_default(api, team):
    # Given a key of the team that is not the member's
    token = team.key()

    # When the plain member reads it, and lists the team's keys
    info = api.get("/key/info", query={"key": token}, key=team.member["key"])
    listed = api.get("/key/list", query={"team_id": team.team_id}, key=team.member["key"])

    # Then both answer
    assert api.ok(info)["info"]["token"] == token
    assert api.ok(listed)["keys"] == [token]


def test_a_plain_member_deletes_the_teams_keys_only_once_granted(api, team):
    # Given a key of the team, and the default permissions
    token = team.key()

    # When the plain member deletes it
    refused = api.post("/key/delete", {"keys": [token]}, key=team.member["key"])

    # Then it is refused, and the key stays
    assert refused.status == 403, refused
    assert api.ok(api.get("/key/info", query={"key": token}))["key"] == token

    # When the team grants /key/delete to its members, and the member tries again
    team.permit(["/key/info", "/key/list", "/key/delete"])
    deleted = api.post("/key/delete", {"keys": [token]}, key=team.member["key"])

    # Then the key is deleted
    assert api.ok(deleted) == {"deleted_keys": [token]}
    assert api.get("/key/info", query={"key": token}).status == 404


def test_a_member_the_team_does_not_let_read_its_keys_cannot(api, team):
    # Given a team that permits its members nothing, and a key of it
    team.permit([])
    token = team.key()

    # When its plain member reads or lists the team's keys
    info = api.get("/key/info", query={"key": token}, key=team.member["key"])
    listed = api.get("/key/list", query={"team_id": team.team_id}, key=team.member["key"])

    # Then the key is not theirs to see; the team admin still sees it
    assert info.status == 403, info
    assert api.ok(listed)["keys"] == []
    assert api.ok(api.get("/key/info", query={"key": token}, key=team.admin["key"]))
    admin_list = api.get("/key/list", query={"team_id": team.team_id}, key=team.admin["key"])
    assert api.ok(admin_list)["keys"] == [token]


def test_a_plain_member_generates_a_team_key_only_once_granted(api, team):
    # Given the default permissions (no /key/generate)
    refused = api.post("/key/generate", {"team_id": team.team_id}, key=team.member["key"])
    assert refused.status == 403, refused

    # When the team grants /key/generate
    team.permit(["/key/generate"])
    made = api.ok(api.post("/key/generate", {"team_id": team.team_id}, key=team.member["key"]))

    # Then the member's key is theirs, of the team
    assert (made["user_id"], made["team_id"]) == (team.member["user_id"], team.team_id)


def test_the_team_admin_may_call_every_key_route_whatever_the_permissions(api, team):
    # Given a team that permits its members nothing
    team.permit([])

    # When its team admin generates a team key and deletes another
    made = api.post("/key/generate", {"team_id": team.team_id}, key=team.admin["key"])
    token = team.key()
    deleted = api.post("/key/delete", {"keys": [token]}, key=team.admin["key"])

    # Then both succeed
    assert api.ok(made)["team_id"] == team.team_id
    assert api.ok(deleted) == {"deleted_keys": [token]}


def test_permissions_update_is_one_audited_update_of_the_team(api, team):
    # When an admin changes the permissions, then sends the same again
    first = api.post("/team/permissions_update", {
        "team_id": team.team_id, "team_member_permissions": ["/key/info", "/key/update"]},
        key=team.admin["key"])
    again = api.post("/team/permissions_update", {
        "team_id": team.team_id, "team_member_permissions": ["/key/info", "/key/update"]})

    # Then both answer the permissions, and one record says what changed
    for reply in (first, again):
        assert api.ok(reply)["team_member_permissions"] == ["/key/info", "/key/update"]
    records = [r for r in _audit(api, team.team_id) if r["action"] == "updated"]
    assert len(records) == 1, records
    (record,) = records
    assert record["table_name"] == "LiteLLM_TeamTable"
    assert record["changed_by"] == team.admin["user_id"]
    assert record["before_value"] == {"team_member_permissions": DEFAULT}
    assert record["updated_values"]["team_member_permissions"] == ["/key/info", "/key/update"]


def test_permissions_update_by_a_plain_member_or_viewer_is_refused(api, team):
    viewer = api.new_user("proxy_admin_viewer")
    body = {"team_id": team.team_id, "team_member_permissions": ALL_ROUTES}

    for key in (team.member["key"], viewer["key"]):
        assert api.post("/team/permissions_update", body, key=key).status == 403

    listed = api.ok(api.get("/team/permissions_list", query={"team_id": team.team_id},
                            key=viewer["key"]))
    assert listed["team_member_permissions"] == DEFAULT
