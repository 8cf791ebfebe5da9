"""Key changes on fakes of the stores: /key/update changes only what is sent, in one audited
write; /key/regenerate moves the key to a new token and keeps its stable id (counter, records),
the old token pointing to it for its grace period."""

import pytest
from teamledger.domain import key_changes, keys
from teamledger.domain.callers import key_refusal
from teamledger.errors import BadRequest, Forbidden, NotFound
from teamledger.http.models import KeyGenerateRequest, KeyRegenerateRequest, KeyUpdateRequest
from teamledger.store.refs import KeyRef
from teamledger.timestamps import to_iso

from tests.unit.conftest import ADMIN, actor, add_members, charge


def _records(fake, object_id: str) -> list[dict]:
    return [r for r in fake.data.audit if r["object_id"] == object_id]


def test_update_changes_only_the_sent_fields_with_one_record(fake):
    made = keys.generate_key(ADMIN, KeyGenerateRequest(key_alias="a", models=["m"]))
    changed = key_changes.update_key(ADMIN, KeyUpdateRequest(key=made.token, key_alias="b",
                                                             max_budget=None))
    assert (changed.key_alias, changed.models, changed.max_budget) == ("b", ["m"], None)
    (record,) = [r for r in _records(fake, made.token) if r["action"] == "updated"]
    assert (record["before_value"], record["updated_values"]) == ({"key_alias": "a"},
                                                                  {"key_alias": "b"})


def test_an_update_that_changes_nothing_writes_nothing(fake):
    made = keys.generate_key(ADMIN, KeyGenerateRequest(key_alias="a"))
    stored = dict(fake.data.keys[made.token])
    key_changes.update_key(ADMIN, KeyUpdateRequest(key=made.token, key_alias="a"))
    assert fake.data.keys[made.token] == stored
    assert [r["action"] for r in _records(fake, made.token)] == ["created"]


def test_a_new_budget_duration_restarts_the_counter(fake, clock):
    made = keys.generate_key(ADMIN, KeyGenerateRequest(budget_duration="1d", max_budget=5.0))
    charge(fake, KeyRef(made.token), 2.0)
    changed = key_changes.update_key(ADMIN, KeyUpdateRequest(key=made.token,
                                                             budget_duration="1w"))
    assert changed.spend == 0.0 and fake.data.spend(KeyRef(made.token)) == 0.0
    assert changed.budget_reset_at == to_iso(clock.advance(days=7))


def test_a_team_keys_owner_changes_its_alias_but_not_its_budget(fake, team):
    add_members(team, {"user_id": "alice", "role": "user"}, {"user_id": "bob", "role": "admin"})
    made = keys.generate_key(ADMIN, KeyGenerateRequest(user_id="alice", team_id=team,
                                                       max_budget=1.0))
    alice, bob = actor("alice", "internal_user"), actor("bob", "internal_user")
    key_changes.update_key(alice, KeyUpdateRequest(key=made.token, key_alias="mine"))
    with pytest.raises(Forbidden):
        key_changes.update_key(alice, KeyUpdateRequest(key=made.token, max_budget=100.0))
    assert key_changes.update_key(bob, KeyUpdateRequest(key=made.token,
                                                        max_budget=100.0)).max_budget == 100.0


def test_unknown_keys_and_bad_values(fake):
    with pytest.raises(NotFound):
        key_changes.update_key(ADMIN, KeyUpdateRequest(key="0" * 64, key_alias="x"))
    with pytest.raises(Forbidden):
        key_changes.update_key(actor("eve", "internal_user"),
                               KeyUpdateRequest(key="0" * 64, key_alias="x"))
    made = keys.generate_key(ADMIN, KeyGenerateRequest())
    for bad in ({"budget_duration": "30days"}, {"max_budget": -1.0}, {"team_id": "nope"}):
        with pytest.raises((BadRequest, NotFound)):
            key_changes.update_key(ADMIN, KeyUpdateRequest(key=made.token, **bad))
    with pytest.raises(BadRequest):
        key_changes.regenerate_key(ADMIN, KeyRegenerateRequest(key=made.token,
                                                               grace_period="soon"))
    assert [r["action"] for r in _records(fake, made.token)] == ["created"]


def test_regenerate_moves_the_key_and_keeps_its_counter_and_records(fake):
    made = keys.generate_key(ADMIN, KeyGenerateRequest(max_budget=5.0))
    charge(fake, KeyRef(made.token), 1.0)
    new = key_changes.regenerate_key(ADMIN, KeyRegenerateRequest(key=made.token))
    assert new.token != made.token and new.key and new.spend == 1.0
    # The old token is gone at once; the key is under the new one, its id the first token
    assert made.token not in fake.data.keys
    assert fake.data.keys[new.token]["key_id"] == made.token
    assert keys.key_info(ADMIN, new.token).info.spend == 1.0
    assert [r["action"] for r in _records(fake, made.token)] == ["created", "updated"]


def test_the_old_token_works_until_its_grace_period_ends(fake, clock):
    made = keys.generate_key(ADMIN, KeyGenerateRequest())
    new = key_changes.regenerate_key(ADMIN, KeyRegenerateRequest(key=made.token,
                                                                 grace_period="1h"), made.key)
    old = fake.keys.for_auth(made.token)
    assert old is not None and old["token"] == new.token
    assert key_refusal(old, to_iso(clock.advance(minutes=59))) is None
    assert key_refusal(old, to_iso(clock.advance(minutes=2))) == "expired"
    assert key_refusal(fake.keys.for_auth(new.token) or {}, to_iso(clock.now)) is None


def test_regenerate_needs_a_key(fake):
    with pytest.raises(BadRequest):
        key_changes.regenerate_key(ADMIN, KeyRegenerateRequest())
