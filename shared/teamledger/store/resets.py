"""ResetStore: the budgets that are due, from GSI4, a sparse index holding an entry only for a
budget with a reset time, sharded over RESET#0..15 and sorted by that time, so each shard is
one Query `SK <= now` in pages; items come whole (projection ALL), one read per item due.

A reset is conditional on `budget_reset_at` as read: a concurrent run, or a retry, that already
reset this boundary fails the condition. The counter's spend is part of it too (the reset takes
the ended spend out of `used`): a call that lands meanwhile fails the transaction, which the
reset then tries again from the read.
"""

from teamledger.store import counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.table import Transaction
from teamledger.store.teams import ACTIVE

PAGE = 100


class ResetStore:
    shards = keys.RESET_SHARDS

    def due(self, shard: int, until: str, start: Item | None) -> tuple[list[Item], Item | None]:
        """One page of the shard's budgets due at `until` (ISO-8601), and where the next
        page starts."""
        items, start = table.Query(keys.reset_shard(shard), index="GSI4",
                                   sk_between=("0", until)).page(PAGE, start)
        return [keys.without_keys(i) for i in items], start

    def reread(self, item: Item) -> Item | None:
        ref = keys.ref_of(item)
        found = table.get(keys.of_ref(ref)) if ref else None
        return keys.without_keys(found) if found else None

    def reset(self, tx: Transaction, item: Item, next_reset: str) -> float:
        """Spend 0 (its counter's) and the next reset time, if the item is still at the
        boundary read; returns the spend that ended."""
        ref = keys.ref_of(item)
        if ref is None:
            raise ValueError(f"not a budget: {item.get('entity')}")
        ended = counters.restart(tx, keys.spend_ref(item) or ref)
        changes: Item = {"budget_reset_at": next_reset, "GSI4SK": next_reset}
        condition = "budget_reset_at = :old"
        values: Item = {":old": item["budget_reset_at"]}
        names: dict[str, str] = {}
        if item["entity"] == "team":
            condition += " AND #status = :active"
            values[":active"] = ACTIVE
            names["#status"] = "status"
        tx.update(keys.of_ref(ref), changes, condition=condition, values=values, names=names)
        return ended

    def unschedule(self, tx: Transaction, item: Item) -> None:
        """A reset time left without a schedule: out of the index, spend kept."""
        ref = keys.ref_of(item)
        if ref is None:
            raise ValueError(f"not a budget: {item.get('entity')}")
        tx.update(keys.of_ref(ref), {"GSI4PK": None, "GSI4SK": None, "budget_reset_at": None},
                  condition="budget_reset_at = :old", values={":old": item["budget_reset_at"]})
