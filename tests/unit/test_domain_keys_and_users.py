"""Keys and users on fakes of the stores (issue 14): any key reads itself, a key for an unknown
user makes no user, /user/new joins `team_id`, a user's teams carry their own membership and
keys, and every Key answer has `token_id` and `updated_at`."""

import pytest
from teamledger.domain import keys, users
from teamledger.domain.callers import Actor, Caller
from teamledger.domain.views import listed_key
from teamledger.errors import Forbidden, NotFound
from teamledger.http.models import KeyGenerateRequest, UserNewRequest

from tests.unit.conftest import ADMIN, add_members


def _as_key(token: str, user_id: str | None = None, role: str | None = None,
            team_id: str | None = None) -> Actor:
    """A caller as authentication makes it: the role is its user's (None without a row)."""
    return Actor(Caller(token=token, user_id=user_id, role=role, team_id=team_id), user_id)


def test_a_key_answer_has_token_id_and_updated_at(fake):
    # When a key is generated
    made = keys.generate_key(ADMIN, KeyGenerateRequest())
    # Then token_id is its token and updated_at its creation, stored so
    assert made.token_id == made.token and made.updated_at == made.created_at
    assert fake.data.keys[made.token]["updated_at"] == made.created_at
    # And a key stored without updated_at answers its created_at
    stored = {"token": "t" * 64, "key_name": "sk-...abcd", "created_at": "2026-01-01T00:00:00Z"}
    assert listed_key(stored).updated_at == "2026-01-01T00:00:00Z"


def test_a_key_with_no_user_and_no_team_reads_itself_only(fake):
    # Given two keys with neither a user nor a team
    mine = keys.generate_key(ADMIN, KeyGenerateRequest())
    other = keys.generate_key(ADMIN, KeyGenerateRequest())
    caller = _as_key(mine.token)
    # Then it reads itself, with or without naming itself
    assert keys.key_info(caller, mine.token).info.token == mine.token
    assert keys.key_info(caller, None).key == mine.token
    # But not another key, nor an unknown one (403, no probing)
    for token in (other.token, "0" * 64):
        with pytest.raises(Forbidden):
            keys.key_info(caller, token)


def test_a_key_for_an_unknown_user_makes_no_user_and_has_no_role(fake):
    # When an admin generates a key for a user id nobody has
    made = keys.generate_key(ADMIN, KeyGenerateRequest(user_id="ghost"))
    # Then the key names that user, no user row or record was written
    assert made.user_id == "ghost" and "ghost" not in fake.data.users
    assert [r["table_name"] for r in fake.data.audit] == ["LiteLLM_VerificationToken"]
    assert fake.users.role_of("ghost") is None
    # And with no role the key reads itself, but not as its user's other keys' owner
    sibling = keys.generate_key(ADMIN, KeyGenerateRequest(user_id="ghost"))
    caller = _as_key(made.token, "ghost")
    assert keys.key_info(caller, None).info.user_id == "ghost"
    with pytest.raises(Forbidden):
        keys.key_info(caller, sibling.token)
    with pytest.raises(Forbidden):
        keys.generate_key(caller, KeyGenerateRequest())


def test_no_key_carries_a_copy_of_its_users_role(fake):
    # When a user and a key of theirs are made
    made = users.create_user(ADMIN, UserNewRequest(user_id="alice", user_role="proxy_admin"))
    key = keys.generate_key(ADMIN, KeyGenerateRequest(user_id="alice"))
    # Then the role lives on the user row only
    assert fake.users.role_of("alice") == "proxy_admin"
    assert all("user_role" not in k for k in fake.data.keys.values())
    assert made.user_role == "proxy_admin" and key.user_id == "alice"


def test_user_new_with_team_id_joins_it_and_the_key_is_that_teams(fake, team):
    # When a user is made with the team's id
    made = users.create_user(ADMIN, UserNewRequest(user_id="alice", team_id=team))
    # Then they are its member as user, audited as a member add, and the key is the team's
    assert made.teams == [team] and made.team_id == team
    assert fake.data.members[(team, "alice")]["role"] == "user"
    assert ("LiteLLM_TeamMembership", f"{team}:alice") in {
        (r["table_name"], r["object_id"]) for r in fake.data.audit}
    [key] = [k for k in fake.data.keys.values() if k["user_id"] == "alice"]
    assert key["team_id"] == team
    assert fake.data.commits == 2  # the team, then the user with all of this


def test_user_new_with_an_unknown_team_id_writes_nothing(fake):
    # When a user is made with a team that does not exist
    with pytest.raises(NotFound):
        users.create_user(ADMIN, UserNewRequest(user_id="alice", team_id="nope"))
    # Then there is no user and no key
    assert "alice" not in fake.data.users and not fake.data.keys


def test_user_info_teams_carry_that_users_membership_and_keys_only(fake, team):
    # Given two members of a team, each with a key of it, and a key without a team
    add_members(team, {"user_id": "alice"}, {"user_id": "bob"})
    alices = keys.generate_key(ADMIN, KeyGenerateRequest(user_id="alice", team_id=team))
    keys.generate_key(ADMIN, KeyGenerateRequest(user_id="bob", team_id=team))
    keys.generate_key(ADMIN, KeyGenerateRequest(user_id="alice"))
    # When alice's info is read
    info = users.user_info(ADMIN, "alice")
    # Then her team entry has her membership and her key of the team only
    [entry] = info.teams
    assert [(m.user_id, m.team_id) for m in entry.team_memberships] == [("alice", team)]
    assert [k.token for k in entry.keys] == [alices.token]
    assert len(info.keys) == 2
    # And the team still lists every member, and no deprecated list
    assert {m.user_id for m in entry.members_with_roles} == {"default_user_id", "alice", "bob"}
    assert entry.admins == [] and entry.members == []
