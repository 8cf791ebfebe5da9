"""SpendStore: spend counters, added with DynamoDB `ADD` (decimal arithmetic, no
read-modify-write), so concurrent reports never lose one another."""

from teamledger.store import keys
from teamledger.store.refs import Ref, TeamRef
from teamledger.store.table import Transaction
from teamledger.store.teams import ACTIVE


class SpendStore:
    def claim(self, tx: Transaction, token: str, request_id: str, expires: int) -> None:
        """One write of the transaction: the note that this key's report `request_id` is
        counted, refused if it was counted before (the same transaction then adds nothing)."""
        tx.put(keys.spend_request(token, request_id) | {
            "entity": "spend_request", "token": token, "ttl": expires},
            condition="attribute_not_exists(PK)")

    def add(self, tx: Transaction, ref: Ref, amount: float) -> None:
        """One write of the transaction: `amount` onto the entity's spend, if it still exists
        (a team: still active, since a team being deleted takes no more spend)."""
        if isinstance(ref, TeamRef):
            tx.add(keys.of_ref(ref), {"spend": amount}, condition="#status = :active",
                   names={"#status": "status"}, values={":active": ACTIVE})
        else:
            tx.add(keys.of_ref(ref), {"spend": amount}, condition="attribute_exists(PK)")
