"""Reads of entities named by their refs, whatever their kind, with their spend: one
BatchGetItem per 50 (items and counters together), so a route that needs a user, a team and a
member item pays one request for all three."""

from collections.abc import Iterable

from teamledger.store import counters, keys
from teamledger.store.marshal import Item
from teamledger.store.refs import Ref


class ItemStore:
    def read(self, refs: Iterable[Ref]) -> dict[Ref, Item]:
        """The items that exist among `refs`, by ref (strongly consistent)."""
        wanted = list(dict.fromkeys(refs))
        if not wanted:
            return {}
        found: dict[Ref, Item] = {}
        for item in counters.CounterStore().read_with_spend([keys.of_ref(r) for r in wanted]):
            ref = keys.ref_of(item)
            if ref is not None:
                found[ref] = keys.without_keys(item)
        return found
