"""The user routes and PATCH /team/{team_id} over real HTTP against `make dev`'s server: the
dev server routes a path parameter as API Gateway does (percent-encoded in the path, the id
itself in the handler), and a changed role binds on the next request of the user's key."""

import uuid
from urllib.parse import quote

from tests.support.devhttp import call


def test_patch_a_team_by_its_id_in_the_path(dev_server):
    # Given a team whose id needs escaping in a path
    team_id = f"e2e patch/{uuid.uuid4().hex[:6]}"
    assert call(dev_server, "POST", "/team/new", {"team_id": team_id})[0] == 200

    # When it is patched over HTTP
    status, team = call(dev_server, "PATCH", f"/team/{quote(team_id, safe='')}",
                        {"team_alias": "patched over http"})

    # Then that team changed, and the answer is the Team
    assert status == 200, team
    assert (team["team_id"], team["team_alias"]) == (team_id, "patched over http")
    # And a body naming another team is refused
    status, error = call(dev_server, "PATCH", f"/team/{quote(team_id, safe='')}",
                         {"team_id": "another", "team_alias": "x"})
    assert status == 400, error


def test_update_list_and_delete_a_user_over_http(dev_server):
    # Given an internal user with a key, who may not list users
    tag = uuid.uuid4().hex[:8]
    status, user = call(dev_server, "POST", "/user/new", {"user_email": f"{tag}@example.com"})
    assert status == 200
    assert call(dev_server, "GET", "/user/list", key=user["key"])[0] == 403

    # When an admin makes them a viewer
    status, updated = call(dev_server, "POST", "/user/update",
                           {"user_id": user["user_id"], "user_role": "proxy_admin_viewer"})
    assert status == 200 and updated["user_role"] == "proxy_admin_viewer"

    # Then their key lists users on its next request, and finds them by part of their email
    status, page = call(dev_server, "GET", f"/user/list?user_email={tag.upper()}",
                        key=user["key"])
    assert status == 200, page
    assert [u["user_id"] for u in page["users"]] == [user["user_id"]] and page["total"] == 1

    # And once deleted, the user and their key are gone
    status, deleted = call(dev_server, "POST", "/user/delete", {"user_ids": [user["user_id"]]})
    assert (status, deleted) == (200, {"deleted_users": [user["user_id"]]})
    assert call(dev_server, "GET", "/user/list", key=user["key"])[0] == 401
    assert call(dev_server, "GET", f"/user/info?user_id={user['user_id']}")[0] == 404
