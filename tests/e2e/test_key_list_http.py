"""GET /key/list and team member permissions over real HTTP against `make dev`'s server: a
plain member reads and lists their team's keys by default, deletes one only once the team
permits it, and the query string's booleans and numbers arrive as API Gateway sends them."""

import uuid

from tests.support.devhttp import call


def _ok(server, method: str, path: str, body=None, **kwargs):
    status, answer = call(server, method, path, body, **kwargs)
    assert status == 200, (path, answer)
    return answer


def test_a_plain_member_lists_reads_and_once_permitted_deletes_team_keys(dev_server):
    # Given a team with a plain member, and a key of the team that is not theirs
    tag = uuid.uuid4().hex[:8]
    member = _ok(dev_server, "POST", "/user/new", {"user_id": f"e2e-member-{tag}"})
    team_id = _ok(dev_server, "POST", "/team/new", {
        "team_id": f"e2e-perm-{tag}", "members_with_roles": [{"user_id": member["user_id"]}]})[
        "team_id"]
    token = _ok(dev_server, "POST", "/key/generate", {"team_id": team_id, "key_alias": tag})[
        "token"]

    # When the member lists the team's keys as objects, and reads the key
    page = _ok(dev_server, "GET", f"/key/list?team_id={team_id}&return_full_object=true&size=5",
               key=member["key"])
    info = _ok(dev_server, "GET", f"/key/info?key={token}", key=member["key"])

    # Then both show the key
    assert [k["token"] for k in page["keys"]] == [token]
    assert (page["total_count"], page["current_page"], page["total_pages"]) == (1, 1, 1)
    assert info["info"]["key_alias"] == tag

    # And deleting it is refused until the team permits /key/delete
    assert call(dev_server, "POST", "/key/delete", {"keys": [token]}, key=member["key"])[0] == 403
    permitted = _ok(dev_server, "POST", "/team/permissions_update", {
        "team_id": team_id, "team_member_permissions": ["/key/list", "/key/delete"]})
    assert permitted["team_member_permissions"] == ["/key/list", "/key/delete"]
    deleted = _ok(dev_server, "POST", "/key/delete", {"keys": [token]}, key=member["key"])
    assert deleted == {"deleted_keys": [token]}
    listed = _ok(dev_server, "GET", f"/team/permissions_list?team_id={team_id}")
    assert listed["team_member_permissions"] == ["/key/list", "/key/delete"]
    assert _ok(dev_server, "GET", f"/key/list?team_id={team_id}")["keys"] == []
