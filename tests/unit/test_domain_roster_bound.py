"""The roster's bounds on fakes of the stores (issue 13, defect 2).

A team of 476 members and a bulk add of 500 once ended with a 976-entry roster: every chunk of
the bulk add reckoned its room from the team as read at the start. The roster holds at most
ROSTER_LIMIT entries and ROSTER_BYTES of them, whoever adds at once: each add conditions its
write on the room it reckoned, and reads the roster again when another add took it."""

import random

import pytest
from teamledger.domain import members, teams, users
from teamledger.errors import NotFound
from teamledger.http.models import (
    BulkMemberAddRequest,
    MemberAddRequest,
    MemberUpdateRequest,
    TeamNewRequest,
    UserNewRequest,
)
from teamledger.store import teams as team_store
from teamledger.store.marshal import to_attr
from teamledger.store.teams import ROSTER_BYTES, ROSTER_LIMIT, entry_size

from bench.capacity_model import value_size
from tests.unit.conftest import ADMIN

DYNAMODB_ITEM_LIMIT = 400 * 1024


def _bulk(team_id: str, users_: list[dict]) -> object:
    return members.bulk_add_members(ADMIN, BulkMemberAddRequest(team_id=team_id, members=users_))


def _fill(team_id: str, count: int, prefix: str = "m") -> None:
    """`count` more members, by bulk adds of 500."""
    names = [{"user_id": f"{prefix}{n:04d}"} for n in range(count)]
    for start in range(0, count, 500):
        _bulk(team_id, names[start:start + 500])


def _roster(fake, team_id: str) -> dict:
    return fake.data.teams[team_id]["roster"]


def _roster_item_size(fake, team_id: str) -> int:
    """The roster item's size as DynamoDB counts it (its keys and attributes, UTF-8)."""
    stored = fake.data.teams[team_id]
    item = {"PK": f"TEAM#{team_id}", "SK": "ROSTER", "entity": "roster", "team_id": team_id,
            "roster": stored["roster"], "roster_bytes": stored["roster_bytes"]}
    return sum(len(name.encode()) + value_size(to_attr(value)) for name, value in item.items())


def _long_members(count: int, char: str = "x") -> list[dict]:
    """Members with the longest id (256 bytes) and email (320 bytes) there are, in `char`s
    (1 to 4 bytes each in UTF-8)."""
    width = len(char.encode())
    return [{"user_id": f"{n:04d}" + char * ((256 - 4) // width),
             "user_email": f"{n:04d}" + char * ((320 - 4 - 12) // width) + "@example.com"}
            for n in range(count)]


@pytest.fixture
def big_team(fake) -> str:
    """A team of 476 members (the creator and 475 added)."""
    teams.create_team(ADMIN, TeamNewRequest(team_id="big"))
    _fill("big", 475)
    assert len(_roster(fake, "big")) == 476
    return "big"


def test_a_bulk_add_to_a_team_near_the_bound_fills_the_roster_exactly(fake, big_team):
    # When 500 more members are added in bulk (21 chunks)
    added = _bulk(big_team, [{"user_id": f"new{n:03d}"} for n in range(500)])
    # Then all of them are members
    assert added.successful_additions == 500
    assert sum(1 for (t, _) in fake.data.members if t == big_team) == 976
    # And the roster holds exactly its limit: the first 500 members, in join order
    roster = _roster(fake, big_team)
    assert len(roster) == ROSTER_LIMIT
    assert {f"new{n:03d}" for n in range(24)} <= roster.keys()
    assert "new024" not in roster
    assert fake.data.teams[big_team]["roster_bytes"] == sum(e["size"] for e in roster.values())


def test_an_add_that_lost_the_roster_s_room_to_another_reads_it_again(fake, big_team):
    # Given other adds that fill the roster after this request read the team
    def others_fill_it() -> None:
        _bulk(big_team, [{"user_id": f"other{n:02d}"} for n in range(ROSTER_LIMIT - 476)])

    fake.before_commit.append(others_fill_it)
    # When 3 members are added
    members.add_members(ADMIN, MemberAddRequest(team_id=big_team, member=[
        {"user_id": "late1"}, {"user_id": "late2"}, {"user_id": "late3"}]))
    # Then they are members, the roster is still at its limit, without them
    assert {("big", "late1"), ("big", "late2"), ("big", "late3")} <= fake.data.members.keys()
    roster = _roster(fake, big_team)
    assert len(roster) == ROSTER_LIMIT and not {"late1", "late2", "late3"} & roster.keys()


def test_a_bulk_add_racing_single_adds_never_passes_the_bound(fake, big_team):
    # Given single adds that land before every commit of the bulk add (each of its chunks)
    landed: list[str] = []

    def a_single_add() -> None:
        user_id = f"single{len(landed):02d}"
        landed.append(user_id)
        members.add_members(ADMIN, MemberAddRequest(team_id=big_team,
                                                    member={"user_id": user_id}))
        if len(landed) < 40:
            fake.before_commit.append(a_single_add)

    fake.before_commit.append(a_single_add)
    # When 500 members are added in bulk
    added = _bulk(big_team, [{"user_id": f"bulk{n:03d}"} for n in range(500)])
    fake.before_commit.clear()
    # Then everybody is a member, and the roster holds exactly its limit
    assert added.successful_additions == 500
    assert sum(1 for (t, _) in fake.data.members if t == big_team) == 476 + 500 + len(landed)
    assert len(_roster(fake, big_team)) == ROSTER_LIMIT


def test_new_users_joining_a_full_team_stay_off_its_roster(fake, big_team):
    # Given a team whose roster is full
    _fill(big_team, ROSTER_LIMIT - 476, prefix="fill")
    assert len(_roster(fake, big_team)) == ROSTER_LIMIT
    # When a new user joins it through /user/new, and another joins by member_add
    users.create_user(ADMIN, UserNewRequest(user_id="newcomer", teams=[big_team]))
    members.add_members(ADMIN, MemberAddRequest(team_id=big_team, member={"user_id": "ann"}))
    # Then both are members, and the roster did not grow
    assert {("big", "newcomer"), ("big", "ann")} <= fake.data.members.keys()
    assert len(_roster(fake, big_team)) == ROSTER_LIMIT
    # And an unknown team is still refused
    with pytest.raises(NotFound):
        users.create_user(ADMIN, UserNewRequest(user_id="lost", teams=["no-such-team"]))


@pytest.mark.parametrize("char", ["x", "\u00e9", "\u4e2d", "\U0001F600"])
def test_500_members_of_the_longest_kind_fit_on_a_roster_under_400_kb(fake, char):
    # Given a team, and 500 members whose id and email are as long as they may be
    teams.create_team(ADMIN, TeamNewRequest(team_id="long"))
    # When they are added in bulk
    added = _bulk("long", _long_members(499, char))
    # Then all are members and on the roster, and the roster item stays under DynamoDB's limit
    assert added.successful_additions == 499
    assert len(_roster(fake, "long")) == ROSTER_LIMIT
    assert fake.data.teams["long"]["roster_bytes"] <= ROSTER_BYTES
    assert _roster_item_size(fake, "long") <= DYNAMODB_ITEM_LIMIT


def test_the_roster_also_stops_at_its_bytes(fake, monkeypatch):
    """Whatever the ids and emails of members are (a user's email from before any limit in
    bytes, say), the roster holds no more than ROSTER_BYTES of them."""
    monkeypatch.setattr(team_store, "ROSTER_BYTES", 20_000)
    teams.create_team(ADMIN, TeamNewRequest(team_id="long"))
    added = _bulk("long", _long_members(100, "\U0001F600"))
    assert added.successful_additions == 100
    roster = _roster(fake, "long")
    assert 10 < len(roster) < 100
    assert fake.data.teams["long"]["roster_bytes"] <= 20_000
    assert fake.data.teams["long"]["roster_bytes"] == sum(e["size"] for e in roster.values())


def test_removing_a_member_gives_its_room_back(fake, monkeypatch):
    # Given a team whose roster is full by its bytes
    monkeypatch.setattr(team_store, "ROSTER_BYTES", 20_000)
    teams.create_team(ADMIN, TeamNewRequest(team_id="long"))
    _bulk("long", _long_members(100, "\U0001F600"))
    full = dict(_roster(fake, "long"))
    assert len(full) < 100
    last_on = max(full, key=lambda u: full[u]["order"])
    # When one of them leaves (its roster entry goes as member_delete takes it off) and a
    # short member joins
    tx = fake.transaction()
    fake.teams.remove_from_roster(tx, "long", last_on)
    tx.commit()
    del fake.data.members[("long", last_on)]
    members.add_members(ADMIN, MemberAddRequest(team_id="long", member={"user_id": "short"}))
    # Then the short one is on the roster, and the bytes are what the entries add up to
    roster = _roster(fake, "long")
    assert "short" in roster and last_on not in roster
    assert fake.data.teams["long"]["roster_bytes"] == sum(e["size"] for e in roster.values())


def test_a_role_change_keeps_the_roster_s_bytes(fake):
    teams.create_team(ADMIN, TeamNewRequest(team_id="t"))
    members.add_members(ADMIN, MemberAddRequest(team_id="t", member={"user_id": "bob"}))
    before = fake.data.teams["t"]["roster_bytes"]
    members.change_member(ADMIN, MemberUpdateRequest(team_id="t", user_id="bob", role="admin"))
    assert fake.data.teams["t"]["roster"]["bob"]["role"] == "admin"
    assert fake.data.teams["t"]["roster_bytes"] == before


@pytest.mark.parametrize("seed", range(20))
def test_an_entry_s_size_is_never_less_than_what_dynamodb_counts(seed):
    """The class, closed: the bytes the bound counts are an upper bound of the real ones,
    whatever the characters (1 to 4 bytes in UTF-8), lengths, email (or none) and role."""
    rng = random.Random(seed)
    alphabet = "a-Z9@.é中\U0001F600\x7f"
    user_id = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 256)))
    email = rng.choice([None, "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 320)))])
    member = {"user_id": user_id, "user_email": email, "role": rng.choice(["admin", "user"]),
              "joined_at": "2026-12-01T20:26:25.155436Z", "join_order": rng.randint(0, 999_999)}
    entry = team_store._roster_entry(member)
    # What the entry adds to the roster map: its key, its value, one byte of the element
    real = len(user_id.encode()) + value_size(to_attr(entry)) + 1
    assert entry["size"] == entry_size(user_id, entry) >= real
    # and the other role too (a role change does not re-count it)
    other = entry | {"role": "admin" if entry["role"] == "user" else "user"}
    assert entry["size"] >= len(user_id.encode()) + value_size(to_attr(other)) + 1
