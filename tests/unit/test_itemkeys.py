"""The key layout: budgets due spread over the reset shards."""

from teamledger.store import keys as table_keys


def test_budgets_due_spread_over_shards_even_within_one_team():
    shards = {table_keys.reset_index(table_keys.member("one-team", f"user-{n}"),
                                   "2026-11-27T00:00:00.000000Z")["GSI4PK"] for n in range(200)}
    assert len(shards) == table_keys.RESET_SHARDS
    assert table_keys.reset_index(table_keys.team("t"), None) == {}
