"""Users as LiteLLM's client creates, reads, updates, lists and deletes them."""

from tests.compat.answers import member, status_of


def test_a_user_made_with_team_id_joins_the_team_and_their_key_is_of_it(
        admin, admin_users, new_team, uid):
    # Given a team
    team_id = new_team()["team_id"]

    # When the client creates a user with that team_id
    user = admin_users.create_user({"user_email": f"{uid('carol')}@example.com",
                                    "team_id": team_id})

    # Then the user is a plain member of the team and the key in the answer is the team's
    assert user["teams"] == [team_id]
    info = admin.keys.info(user["key"])["info"]
    assert (info["user_id"], info["team_id"]) == (user["user_id"], team_id)
    team = admin.http.request("GET", f"/team/info?team_id={team_id}")["team_info"]
    assert member(user["user_id"]) | {"user_email": user["user_email"]} in (
        team["members_with_roles"])


def test_user_info_shows_each_team_with_this_users_membership_and_keys_only(
        admin, admin_users, new_team, uid):
    # Given a team of alice and bob, each with a key of the team
    alice, bob = uid("alice"), uid("bob")
    team_id = new_team(members_with_roles=[member(alice, "admin"), member(bob)])["team_id"]
    keys = {user: admin.keys.generate(user_id=user, team_id=team_id)["token"]
            for user in (alice, bob)}

    # When the client reads bob
    info = admin_users.get_user(bob)

    # Then the team's entry has bob's membership and bob's key, not alice's
    (team,) = [team for team in info["teams"] if team["team_id"] == team_id]
    assert [membership["user_id"] for membership in team["team_memberships"]] == [bob]
    assert [key["token"] for key in team["keys"]] == [keys[bob]]
    assert info["user_info"]["teams"] == [team_id]


def test_an_admin_updates_a_user_and_the_user_updates_their_own_email_but_not_role(
        admin, admin_users, client_as, uid):
    # Given a user with a key
    user = admin_users.create_user({"user_id": uid("dave"),
                                    "user_email": f"{uid('dave')}@example.com"})
    as_user = client_as(user["key"])

    # When the admin sets their budget and models, and the user their own email and metadata
    by_admin = admin.http.request("POST", "/user/update", json={
        "user_id": user["user_id"], "max_budget": 25, "models": ["gpt-4o"]})
    email = f"{uid('dave.new')}@example.com"
    by_self = as_user.http.request("POST", "/user/update", json={
        "user_id": user["user_id"], "user_email": email, "metadata": {"desk": "7"}})

    # Then both answers are the user as changed, and the user may not change their role
    assert (by_admin["max_budget"], by_admin["models"]) == (25, ["gpt-4o"])
    assert (by_self["user_email"], by_self["metadata"]) == (email, {"desk": "7"})
    assert by_self["max_budget"] == 25
    assert status_of(lambda: as_user.http.request("POST", "/user/update", json={
        "user_id": user["user_id"], "user_role": "proxy_admin"})) == 403
    shown = admin_users.get_user(user["user_id"])["user_info"]
    assert (shown["user_email"], shown["user_role"]) == (email, "internal_user")


def test_a_changed_role_binds_at_once_on_the_users_existing_key(
        admin, admin_users, client_as, uid):
    # Given an internal user with a key, who may not use the admin's team filter
    user = admin_users.create_user({"user_id": uid("erin"), "user_role": "internal_user"})
    as_user = client_as(user["key"])

    def filter_ui() -> int:
        return status_of(lambda: as_user.http.request("GET", "/team/filter/ui"))

    before = filter_ui()

    # When the admin makes them a viewer, then an internal user again
    admin.http.request("POST", "/user/update",
                       json={"user_id": user["user_id"], "user_role": "proxy_admin_viewer"})
    as_viewer = filter_ui()
    admin.http.request("POST", "/user/update",
                       json={"user_id": user["user_id"], "user_role": "internal_user"})

    # Then the same key acts with each role from the next request on
    assert (before, as_viewer, filter_ui()) == (403, 200, 403)


def test_user_list_pages_and_filters_by_part_of_the_email(admin, admin_users, client_as, uid):
    # Given three users whose emails share a word
    word = uid("listme")
    made = {admin_users.create_user({"user_email": f"{word}.{n}@example.com"})["user_id"]
            for n in range(3)}

    # When the client lists them two at a time
    first = admin_users.list_users({"user_email": word, "page": 1, "page_size": 2})
    second = admin.http.request("GET", f"/user/list?user_email={word}&page=2&page_size=2")

    # Then the pages hold the three users once each, with the totals
    assert len(first) == 2
    assert (second["total"], second["page"], second["page_size"], second["total_pages"]) == (
        3, 2, 2, 2)
    assert {user["user_id"] for user in first + second["users"]} == made
    internal = admin_users.create_user({"user_id": uid("nosy")})
    assert status_of(lambda: client_as(internal["key"]).http.request("GET", "/user/list")) == 403


def test_deleting_a_user_removes_them_their_memberships_and_keys_and_frees_the_email(
        admin, admin_users, client_as, new_team, uid):
    # Given a user in a team, with a key
    team_id = new_team()["team_id"]
    email = f"{uid('frank')}@example.com"
    user = admin_users.create_user({"user_email": email, "team_id": team_id})

    # When the client deletes the user
    admin_users.delete_user([user["user_id"]])

    # Then the user is not found, their key is refused, the team no longer lists them, and
    # their email can be given to a new user
    assert status_of(lambda: admin_users.get_user(user["user_id"])) == 404
    assert status_of(lambda: client_as(user["key"]).keys.info(user["key"])) == 401
    team = admin.http.request("GET", f"/team/info?team_id={team_id}")
    assert user["user_id"] not in {entry["user_id"] for entry in
                                   team["team_info"]["members_with_roles"]}
    assert team["keys"] == []
    assert admin_users.create_user({"user_email": email})["user_email"] == email
