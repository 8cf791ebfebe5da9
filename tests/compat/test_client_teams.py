"""Teams, members and team member permissions, as LiteLLM's client shows them."""

from tests.compat.answers import member, status_of

KEY_ROUTES = {"/key/generate", "/key/update", "/key/delete", "/key/info", "/key/regenerate",
              "/key/list"}


def roster(team: dict) -> dict[str, str]:
    return {entry["user_id"]: entry["role"] for entry in team["members_with_roles"]}


def test_members_are_added_updated_and_removed_and_admins_and_members_stay_empty(
        admin, new_team, uid):
    # Given a team with alice as its admin
    alice, bob = uid("alice"), uid("bob")
    team = new_team(members_with_roles=[member(alice, "admin")])
    team_id = team["team_id"]

    # When bob joins, is made an admin, then leaves
    added = admin.http.request("POST", "/team/member_add",
                               json={"team_id": team_id, "member": member(bob)})
    updated = admin.http.request("POST", "/team/member_update",
                                 json={"team_id": team_id, "user_id": bob, "role": "admin"})
    after_update = admin.http.request("GET", f"/team/info?team_id={team_id}")["team_info"]
    removed = admin.http.request("POST", "/team/member_delete",
                                 json={"team_id": team_id, "user_id": bob})

    # Then each answer shows the roster of that moment, and the deprecated lists stay []
    assert roster(added)[bob] == "user"
    assert updated["user_id"] == bob and updated["team_id"] == team_id
    assert roster(after_update)[bob] == "admin"
    assert bob not in roster(removed) and roster(removed)[alice] == "admin"
    for answer in (team, added, after_update, removed):
        assert (answer["admins"], answer["members"]) == ([], [])
    listed = {listed["team_id"]: listed for listed in admin.teams.list()}
    assert (listed[team_id]["admins"], listed[team_id]["members"]) == ([], [])


def test_team_list_for_a_user_shows_only_that_users_membership(admin, new_team, uid):
    # Given a team of alice and bob
    alice, bob = uid("alice"), uid("bob")
    team = new_team(members_with_roles=[member(alice, "admin"), member(bob)])

    # When the client lists bob's teams
    teams = admin.teams.list(user_id=bob)

    # Then the team is there with bob's membership alone
    (listed,) = [listed for listed in teams if listed["team_id"] == team["team_id"]]
    assert [membership["user_id"] for membership in listed["team_memberships"]] == [bob]
    assert set(roster(listed)) >= {alice, bob}


def test_v2_team_list_pages_and_filters_by_alias(admin, new_team, uid):
    # Given three teams whose aliases share a word
    word = uid("squad")
    made = [new_team(team_alias=f"{word}-{n}")["team_id"] for n in range(3)]

    # When the client asks for the second page of two
    page = admin.teams.list_v2(team_alias=word, page=2, page_size=2, sort_by="team_alias")

    # Then it holds the third team, and the totals count all three
    assert [team["team_id"] for team in page["teams"]] == made[2:]
    assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (3, 2, 2, 2)


def test_patch_team_changes_what_team_update_changes(admin, new_team, uid):
    # Given a team
    team = new_team(metadata={"cost_center": "old"})

    # When the client PATCHes its alias and metadata
    alias = uid("renamed")
    patched = admin.http.request("PATCH", f"/team/{team['team_id']}",
                                 json={"team_alias": alias, "metadata": {"cost_center": "new"}})

    # Then the team answered and read back has them
    info = admin.http.request("GET", f"/team/info?team_id={team['team_id']}")["team_info"]
    for shown in (patched, info):
        assert shown["team_id"] == team["team_id"]
        assert (shown["team_alias"], shown["metadata"]) == (alias, {"cost_center": "new"})


def test_team_member_permissions_default_are_kept_and_updated(admin, new_team):
    # Given a team with the default permissions and one made with its own
    plain = new_team()
    chosen = new_team(team_member_permissions=["/key/info", "/key/list", "/key/update"])

    # When the client reads them and then changes the plain team's
    listed = admin.http.request("GET", f"/team/permissions_list?team_id={plain['team_id']}")
    changed = admin.http.request("POST", "/team/permissions_update", json={
        "team_id": plain["team_id"], "team_member_permissions": ["/key/generate", "/key/info"]})
    updated = admin.http.request("POST", "/team/update", json={
        "team_id": chosen["team_id"], "team_member_permissions": ["/key/list"]})

    # Then every answer shows the permissions of that moment
    assert plain["team_member_permissions"] == ["/key/info", "/key/list"]
    assert chosen["team_member_permissions"] == ["/key/info", "/key/list", "/key/update"]
    assert listed["team_id"] == plain["team_id"]
    assert listed["team_member_permissions"] == ["/key/info", "/key/list"]
    assert set(listed["all_available_permissions"]) >= KEY_ROUTES
    assert sorted(changed["team_member_permissions"]) == ["/key/generate", "/key/info"]
    assert updated["data"]["team_member_permissions"] == ["/key/list"]
    info = admin.http.request("GET", f"/team/info?team_id={plain['team_id']}")["team_info"]
    assert sorted(info["team_member_permissions"]) == ["/key/generate", "/key/info"]


def test_plain_members_may_do_with_team_keys_what_the_permissions_allow(
        admin, admin_users, client_as, new_team, uid):
    # Given a team key, and bob, a plain member of the team with a key of his own
    team = new_team()
    team_id = team["team_id"]
    bob = admin_users.create_user({"user_id": uid("bob"), "team_id": team_id})
    team_key = admin.keys.generate(team_id=team_id, key_alias=uid("shared"))
    as_bob = client_as(bob["key"])

    # When bob uses the team key with the default permissions (read, list)
    info = as_bob.keys.info(team_key["token"])
    listed = as_bob.keys.list(team_id=team_id, return_full_object=True)
    # Then he reads it and lists it (beside his own key of the team), and may not delete it
    assert info["info"]["key_alias"] == team_key["key_alias"]
    assert team_key["token"] in {key["token"] for key in listed["keys"]}
    assert {key["team_id"] for key in listed["keys"]} == {team_id}
    assert listed["total_count"] == 2
    assert status_of(lambda: as_bob.keys.delete(keys=[team_key["token"]])) == 403

    # When an admin lets members delete the team's keys
    admin.http.request("POST", "/team/permissions_update", json={
        "team_id": team_id, "team_member_permissions": ["/key/info", "/key/delete"]})

    # Then bob deletes it
    assert as_bob.keys.delete(keys=[team_key["token"]]) == {"deleted_keys": [team_key["token"]]}


def test_a_team_admin_reads_the_permissions_and_a_plain_member_does_not(
        admin, admin_users, client_as, new_team, uid):
    # Given a team with alice as admin and bob as a plain member, each with a key
    team = new_team()
    team_id = team["team_id"]
    alice = admin_users.create_user({"user_id": uid("alice"), "team_id": team_id})
    bob = admin_users.create_user({"user_id": uid("bob"), "team_id": team_id})
    admin.http.request("POST", "/team/member_update", json={
        "team_id": team_id, "user_id": alice["user_id"], "role": "admin"})

    # When each asks for the team's permissions
    def permissions(key: str) -> int:
        return status_of(lambda: client_as(key).http.request(
            "GET", f"/team/permissions_list?team_id={team_id}"))

    # Then the team admin is answered and the plain member refused
    assert permissions(alice["key"]) == 200
    assert permissions(bob["key"]) == 403


def test_a_user_lists_their_own_teams_and_is_refused_everyone_elses(
        admin_users, client_as, new_team, uid):
    # Given a user in a team
    team_id = new_team()["team_id"]
    user = admin_users.create_user({"user_id": uid("gina"), "team_id": team_id})
    as_user = client_as(user["key"])

    # When they list their own teams, and then all teams
    own = as_user.teams.list(user_id=user["user_id"])

    # Then they see theirs, and the client reports the refusal of all teams as unauthorized
    assert [team["team_id"] for team in own] == [team_id]
    assert status_of(lambda: as_user.teams.list()) == 401
