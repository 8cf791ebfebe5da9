"""What a team admin may not undo (issue 13): the team's own budget and limits, and a block an
admin put on the team, are admins' (403 for team admins). Team admins keep managing the team's
members, member budgets, models, alias and metadata, and may lift a block they put on."""

import pytest


@pytest.fixture
def team(api):
    """A team with a budget, made by an admin, and its team admin's key."""
    team_admin = api.new_user()
    team = api.new_team(max_budget=10.0, budget_duration="30d", tpm_limit=100, rpm_limit=10,
                        max_parallel_requests=2,
                        members_with_roles=[{"user_id": team_admin["user_id"], "role": "admin"}])
    return team["team_id"], team_admin["key"]


def _team(api, team_id: str) -> dict:
    return api.ok(api.get("/team/info", query={"team_id": team_id}))["team_info"]


def _update(api, key: str, team_id: str, **fields):
    return api.post("/team/update", {"team_id": team_id} | fields, key=key)


@pytest.mark.parametrize(("field", "value"), [
    ("max_budget", 1000.0), ("max_budget", None), ("budget_duration", "1d"),
    ("budget_duration", None), ("tpm_limit", 10**6), ("tpm_limit", None), ("rpm_limit", 10**6),
    ("max_parallel_requests", 100)])
def test_a_team_admin_may_not_change_the_teams_budget_or_limits(api, team, field, value):
    team_id, team_admin = team
    before = _team(api, team_id)

    reply = _update(api, team_admin, team_id, **{field: value})

    assert reply.status == 403, reply
    assert _team(api, team_id) == before


def test_a_team_admin_may_not_zero_the_teams_spend(api, team):
    # Given spend on the team
    team_id, team_admin = team
    key = api.new_key(team_id=team_id)
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 4.0}))
    # When its team admin changes the budget's period (which starts a new one, at 0)
    reply = _update(api, team_admin, team_id, budget_duration="1d")
    # Then that is refused, and the spend stands
    assert reply.status == 403, reply
    assert _team(api, team_id)["spend"] == 4.0


def test_403_comes_before_the_400_of_a_bad_value(api, team):
    team_id, team_admin = team

    assert _update(api, team_admin, team_id, max_budget=-1).status == 403
    assert _update(api, team_admin, team_id, budget_duration="30days").status == 403


def test_sending_the_current_values_back_is_no_change(api, team):
    # A form sent back whole: the budget and limits as they are, with a new alias
    team_id, team_admin = team
    current = _team(api, team_id)
    fields = {f: current[f] for f in ("max_budget", "budget_duration", "tpm_limit", "rpm_limit",
                                      "max_parallel_requests")}

    answer = api.ok(_update(api, team_admin, team_id, team_alias="renamed", **fields))

    assert answer["data"]["team_alias"] == "renamed"
    assert answer["data"]["budget_reset_at"] == current["budget_reset_at"]


def test_team_admins_keep_managing_their_team(api, team):
    team_id, team_admin = team
    member = api.new_user()
    api.ok(_update(api, team_admin, team_id, team_alias="ours", metadata={"tier": "x"},
                   models=["gpt-4o"], model_aliases={"fast": "gpt-4o"}))
    api.ok(api.post("/team/model/add", {"team_id": team_id, "models": ["o3"]}, key=team_admin))
    api.ok(api.post("/team/member_add", {"team_id": team_id,
                                         "member": {"user_id": member["user_id"]},
                                         "max_budget_in_team": 1.0}, key=team_admin))
    api.ok(api.post("/team/member_update", {"team_id": team_id, "user_id": member["user_id"],
                                            "max_budget_in_team": 3.0, "budget_duration": "7d"},
                    key=team_admin))
    team_now = _team(api, team_id)
    assert (team_now["team_alias"], team_now["models"]) == ("ours", ["gpt-4o", "o3"])
    assert team_now["max_budget"] == 10.0


def test_admins_change_budgets_and_limits(api, team):
    team_id, _ = team
    admin = api.new_user("proxy_admin")

    answer = api.ok(_update(api, admin["key"], team_id, max_budget=50.0, budget_duration="1d",
                            tpm_limit=5, rpm_limit=None, max_parallel_requests=None))

    assert (answer["data"]["max_budget"], answer["data"]["budget_duration"]) == (50.0, "1d")


# --- blocks ------------------------------------------------------------------------------

@pytest.mark.parametrize("unblock", ["/team/unblock", "/team/update"])
def test_a_team_admin_may_not_unblock_a_team_an_admin_blocked(api, team, unblock):
    team_id, team_admin = team
    api.ok(api.post("/team/block", {"team_id": team_id}))

    reply = api.post(unblock, {"team_id": team_id, "blocked": False}, key=team_admin)

    assert reply.status == 403, reply
    assert _team(api, team_id)["blocked"] is True


def test_a_team_admin_may_not_unblock_a_team_created_blocked(api):
    team_admin = api.new_user()
    team = api.new_team(blocked=True, members_with_roles=[
        {"user_id": team_admin["user_id"], "role": "admin"}])

    reply = api.post("/team/unblock", {"team_id": team["team_id"]}, key=team_admin["key"])

    assert reply.status == 403, reply


def test_a_team_admin_lifts_a_block_they_put_on(api, team):
    team_id, team_admin = team
    api.ok(api.post("/team/block", {"team_id": team_id}, key=team_admin))

    api.ok(api.post("/team/unblock", {"team_id": team_id}, key=team_admin))

    assert _team(api, team_id)["blocked"] is False


def test_an_admins_block_of_a_team_its_admin_blocked_is_the_admins(api, team):
    # Given a team its team admin blocked, then an admin blocked too
    team_id, team_admin = team
    api.ok(api.post("/team/block", {"team_id": team_id}, key=team_admin))
    api.ok(api.post("/team/block", {"team_id": team_id}))
    # When the team admin unblocks it
    reply = api.post("/team/unblock", {"team_id": team_id}, key=team_admin)
    # Then the admin's block stands
    assert reply.status == 403, reply
    assert _team(api, team_id)["blocked"] is True
    # And an admin lifts it
    api.ok(api.post("/team/unblock", {"team_id": team_id}))
    assert _team(api, team_id)["blocked"] is False


def test_a_team_admins_block_of_an_admin_blocked_team_changes_nothing(api, team):
    team_id, team_admin = team
    api.ok(api.post("/team/block", {"team_id": team_id}))
    api.ok(api.post("/team/block", {"team_id": team_id}, key=team_admin))

    assert api.post("/team/unblock", {"team_id": team_id}, key=team_admin).status == 403
