"""The key layout: budgets due spread over the reset shards."""

from teamledger import itemkeys


def test_budgets_due_spread_over_shards_even_within_one_team():
    shards = {itemkeys.reset_index(itemkeys.member("one-team", f"user-{n}"),
                                   "2026-11-27T00:00:00.000000Z")["GSI4PK"] for n in range(200)}
    assert len(shards) == itemkeys.RESET_SHARDS
    assert itemkeys.reset_index(itemkeys.team("t"), None) == {}
