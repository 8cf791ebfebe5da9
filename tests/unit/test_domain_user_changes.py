"""POST /user/update, /user/delete and GET /user/list on fakes of the stores: who may change
what, an email moved in the change's transaction (and a race for it), users deleted with their
keys and memberships in as few transactions as hold them, the user always last."""

import pytest
from teamledger.domain import keys, user_changes, user_lists, users
from teamledger.errors import BadRequest, Forbidden, NotFound
from teamledger.http.models import (
    KeyGenerateRequest,
    TeamNewRequest,
    UserDeleteRequest,
    UserNewRequest,
    UserUpdateRequest,
)
from teamledger.store.refs import UserRef

from tests.unit.conftest import ADMIN, VIEWER, actor


def _user(user_id: str, email: str | None = None, role: str = "internal_user") -> None:
    users.create_user(ADMIN, UserNewRequest(user_id=user_id, user_email=email, user_role=role))


def _update(who=ADMIN, **fields):
    return user_changes.update_user(who, UserUpdateRequest(**fields))


# --- /user/update -----------------------------------------------------------------------

def test_an_admin_changes_any_field_in_one_audited_transaction(fake, clock):
    _user("ann", "ann@example.com")
    commits = fake.data.commits

    updated = _update(user_id="ann", user_email="ann@new.example", user_role="proxy_admin_viewer",
                      max_budget=3.0, budget_duration="1d", models=["o3"], metadata={"a": 1})

    assert (updated.user_email, updated.user_role, updated.max_budget, updated.models) == (
        "ann@new.example", "proxy_admin_viewer", 3.0, ["o3"])
    assert fake.data.commits == commits + 1
    assert fake.data.emails == {"ann@new.example": "ann"}
    assert fake.data.counters[UserRef("ann")]["max_budget"] > 0
    (record,) = [r for r in fake.data.records("ann") if r["action"] == "updated"]
    assert record["before_value"]["user_role"] == "internal_user"


def test_a_user_changes_their_email_and_metadata_but_nothing_else(fake):
    _user("ann", "ann@example.com")
    ann = actor("ann", "internal_user")

    assert _update(ann, user_id="ann", metadata={"tz": "UTC"}).metadata == {"tz": "UTC"}
    for field, value in (("user_role", "proxy_admin"), ("max_budget", 1.0),
                         ("budget_duration", "1d"), ("models", ["o3"])):
        with pytest.raises(Forbidden):
            _update(ann, user_id="ann", **{field: value})
    # the current value is no change
    _update(ann, user_id="ann", user_role="internal_user")
    with pytest.raises(Forbidden):
        _update(actor("bob", "internal_user"), user_id="ann", metadata={})
    with pytest.raises(Forbidden):
        _update(actor("viewer", "proxy_admin_viewer"), user_id="viewer", metadata={})


def test_unknown_users_and_requests_naming_nobody(fake):
    with pytest.raises(NotFound):
        _update(user_id="nobody", metadata={})
    with pytest.raises(NotFound):
        _update(user_email="nobody@example.com", metadata={})
    with pytest.raises(Forbidden):
        _update(actor("bob", "internal_user"), user_id="nobody", metadata={})
    with pytest.raises(BadRequest, match="user_id or user_email"):
        _update(metadata={})


def test_an_email_taken_meanwhile_is_400_and_changes_nothing(fake):
    _user("ann", "ann@example.com")

    def claim() -> None:
        fake.data.emails["taken@example.com"] = "bob"

    fake.before_commit.append(claim)
    with pytest.raises(BadRequest, match="belongs to another user"):
        _update(user_id="ann", user_email="taken@example.com", metadata={"x": 1})
    assert fake.data.users["ann"]["user_email"] == "ann@example.com"
    assert fake.data.emails["ann@example.com"] == "ann"


def test_an_update_that_changes_nothing_writes_nothing(fake):
    _user("ann", "ann@example.com")
    commits = fake.data.commits
    _update(user_id="ann", user_email="ann@example.com", user_role="internal_user")
    assert fake.data.commits == commits


# --- /user/delete ------------------------------------------------------------------------

def _key(user_id: str, team_id: str | None = None) -> str:
    return keys.generate_key(ADMIN, KeyGenerateRequest(user_id=user_id, team_id=team_id)).token


def test_a_user_goes_with_their_keys_memberships_and_email_in_one_transaction(fake):
    from teamledger.domain import teams

    _user("ann", "ann@example.com")
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", members_with_roles=[
        {"user_id": "ann", "role": "admin"}]))
    tokens = [_key("ann"), _key("ann", "t1")]
    commits = fake.data.commits

    deleted = user_changes.delete_users(ADMIN, UserDeleteRequest(user_ids=["ann"]))

    assert deleted.deleted_users == ["ann"]
    assert fake.data.commits == commits + 1
    assert "ann" not in fake.data.users and "ann@example.com" not in fake.data.emails
    assert ("t1", "ann") not in fake.data.members
    assert not set(tokens) & set(fake.data.keys)
    assert {r["action"] for r in fake.data.records("ann")} == {"created", "deleted"}


def test_a_user_with_more_keys_than_a_transaction_holds_goes_last(fake):
    _user("ann")
    for _ in range(39):
        _key("ann")
    commits = fake.data.commits

    user_changes.delete_users(ADMIN, UserDeleteRequest(user_ids=["ann"]))

    assert fake.data.commits == commits + 2  # 40 keys of 3 writes, then the user
    assert "ann" not in fake.data.users
    deleted = [r for r in fake.data.audit if r["action"] == "deleted"]
    assert len(deleted) == 41 and deleted[-1]["table_name"] == "LiteLLM_UserTable"
    assert not [k for k in fake.data.keys.values() if k.get("user_id") == "ann"]


def test_two_users_of_one_team_leave_its_roster_in_two_transactions(fake):
    from teamledger.domain import teams

    _user("ann")
    _user("bob")
    teams.create_team(ADMIN, TeamNewRequest(team_id="t1", members_with_roles=[
        {"user_id": "ann"}, {"user_id": "bob"}]))
    commits = fake.data.commits

    user_changes.delete_users(ADMIN, UserDeleteRequest(user_ids=["ann", "bob"]))

    assert fake.data.commits == commits + 2
    assert [u for t, u in fake.data.members if t == "t1"] == ["default_user_id"]


def test_an_unknown_id_deletes_nothing_and_only_admins_delete(fake):
    _user("ann")
    with pytest.raises(NotFound):
        user_changes.delete_users(ADMIN, UserDeleteRequest(user_ids=["ann", "nobody"]))
    with pytest.raises(Forbidden):
        user_changes.delete_users(VIEWER, UserDeleteRequest(user_ids=["ann"]))
    assert "ann" in fake.data.users


# --- /user/list --------------------------------------------------------------------------

def test_users_are_listed_newest_first_with_the_total(fake, clock):
    for n in range(3):
        clock.advance(seconds=1)
        _user(f"u{n}", f"u{n}@Example.com", role="proxy_admin_viewer" if n == 1 else
              "internal_user")

    page = user_lists.list_users(VIEWER, page=1, page_size=2, role=None, user_email=None)
    assert [u.user_id for u in page.users] == ["u2", "u1"]
    assert (page.total, page.total_pages) == (3, 2)
    viewers = user_lists.list_users(VIEWER, page=1, page_size=10, role="proxy_admin_viewer",
                                    user_email="EXAMPLE")
    assert [u.user_id for u in viewers.users] == ["u1"] and viewers.total == 1
    beyond = user_lists.list_users(VIEWER, page=3, page_size=2, role=None, user_email=None)
    assert beyond.users == [] and beyond.total == 3
    with pytest.raises(Forbidden):
        user_lists.list_users(actor("u0", "internal_user"), page=1, page_size=2, role=None,
                              user_email=None)
