"""The data-access layer: typed stores that own the single table. Every key string, index
name, expression and condition lives in this package; the domain speaks in entities and refs.

`stores()` is the set the domain uses: the DynamoDB stores, built once per execution
environment, or the in-memory fakes a unit test installs with `use()`.
"""

from dataclasses import dataclass, field
from typing import Any

from teamledger.store.api_keys import KeyStore
from teamledger.store.audit import AuditStore
from teamledger.store.counters import CounterStore
from teamledger.store.items import ItemStore
from teamledger.store.members import MemberStore
from teamledger.store.reservations import ReservationStore
from teamledger.store.resets import ResetStore
from teamledger.store.spend import SpendStore
from teamledger.store.table import Transaction
from teamledger.store.team_orders import TeamOrderStore
from teamledger.store.teams import TeamStore
from teamledger.store.users import UserStore


@dataclass
class Stores:
    teams: TeamStore = field(default_factory=TeamStore)
    members: MemberStore = field(default_factory=MemberStore)
    users: UserStore = field(default_factory=UserStore)
    keys: KeyStore = field(default_factory=KeyStore)
    audit: AuditStore = field(default_factory=AuditStore)
    spend: SpendStore = field(default_factory=SpendStore)
    counters: CounterStore = field(default_factory=CounterStore)
    reservations: ReservationStore = field(default_factory=ReservationStore)
    resets: ResetStore = field(default_factory=ResetStore)
    orders: TeamOrderStore = field(default_factory=TeamOrderStore)
    items: ItemStore = field(default_factory=ItemStore)

    def transaction(self) -> Transaction:
        """The writes of one change, committed together (audit records included)."""
        return Transaction()


# A test's fakes stand in for a Stores here (use() takes them as Any: they are duck-typed).
_active: list[Stores] = []


def stores() -> Stores:
    if not _active:
        _active.append(Stores())
    return _active[0]


def use(replacement: Any) -> Any:
    """Install another set of stores (a test's fakes); returns the one it replaces."""
    previous = _active[0] if _active else None
    _active[:] = [replacement] if replacement is not None else []
    return previous
