"""UserStore: user rows, found by id or by email (GSI2), and what links to a user (GSI1:
their memberships and keys)."""

from teamledger import money
from teamledger.errors import ServiceError
from teamledger.store import counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.table import Transaction


class UserStore:
    def get(self, user_id: str) -> Item | None:
        item = table.get(keys.user(user_id))
        return keys.without_keys(item) if item else None

    def with_spend(self, user_id: str) -> Item | None:
        """The user row with its spend, from its partition (row and counter: one Query)."""
        user, spend = None, 0
        for item in table.Query(keys.user_partition(user_id), consistent=True).all():
            if item.get("entity") == "user":
                user = keys.without_keys(item)
            elif item.get("entity") == "counter":
                spend = item.get("spend", 0)
        if user is not None:
            user["spend"] = money.usd(spend)
        return user

    def find_by_email(self, user_email: str, limit: int = 2) -> list[Item]:
        items, _ = table.Query(keys.email_partition(user_email), index="GSI2").page(limit)
        return [keys.without_keys(i) for i in items]

    def put_new(self, tx: Transaction, user: Item, refusal: ServiceError | None = None) -> None:
        key = keys.user(user["user_id"])
        tx.put(key | keys.user_index(user["user_id"], user.get("user_email")) |
               keys.reset_index(key, user.get("budget_reset_at")) |
               {k: v for k, v in user.items() if k != "spend"} | {"entity": "user"},
               condition="attribute_not_exists(PK)", refusal=refusal)

    def links(self, user_id: str) -> tuple[list[str], list[Item]]:
        """The user's team ids and keys, in one Query of GSI1."""
        linked = [keys.without_keys(i)
                  for i in table.Query(keys.user_partition(user_id), index="GSI1").all()]
        counters.CounterStore().fill([i for i in linked if i.get("entity") == "key"])
        return ([i["team_id"] for i in linked if i.get("entity") == "member"],
                [i for i in linked if i.get("entity") == "key"])
