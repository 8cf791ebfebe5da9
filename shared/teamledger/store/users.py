"""UserStore: user rows, found by id or by email (the email's own item, which makes an email
one user's; GSI2 for users stored before those items), and what links to a user (GSI1: their
memberships and keys)."""

from collections.abc import Iterable

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
        """Users whose row has this email (GSI2, eventually consistent), at most `limit`."""
        items, _ = table.Query(keys.email_partition(user_email), index="GSI2").page(limit)
        return [keys.without_keys(i) for i in items]

    def email_owners(self, emails: Iterable[str]) -> dict[str, list[str]]:
        """Whose each email is, keyed as given: the user its email item names (one consistent
        BatchGetItem for all), else, for users stored before email items existed, the ids of
        up to two users whose row has it (a GSI2 Query per email without an item); [] when
        nobody has it."""
        given = list(dict.fromkeys(emails))
        found = {i["PK"]: i for i in table.batch_get([keys.email(e) for e in given])}
        owners: dict[str, list[str]] = {}
        for user_email in given:
            item = found.get(keys.email(user_email)["PK"])
            owners[user_email] = [str(item["user_id"])] if item else [
                str(u["user_id"]) for u in self.find_by_email(user_email)]
        return owners

    def put_new(self, tx: Transaction, user: Item, refusal: ServiceError | None = None,
                email_refusal: ServiceError | None = None) -> None:
        """A new user row (refused if the id exists) and, with an email, that email's item
        (refused if the email is anyone's: `email_refusal`, else a lost race to retry)."""
        key = keys.user(user["user_id"])
        tx.put(key | keys.user_index(user["user_id"], user.get("user_email")) |
               keys.reset_index(key, user.get("budget_reset_at")) |
               {k: v for k, v in user.items() if k != "spend"} | {"entity": "user"},
               condition="attribute_not_exists(PK)", refusal=refusal)
        if user.get("user_email"):
            tx.put(keys.email(user["user_email"]) | {
                "entity": "email", "user_id": user["user_id"], "user_email": user["user_email"]},
                condition="attribute_not_exists(PK)", refusal=email_refusal)

    def links(self, user_id: str) -> tuple[list[str], list[Item]]:
        """The user's team ids and keys, in one Query of GSI1."""
        linked = [keys.without_keys(i)
                  for i in table.Query(keys.user_partition(user_id), index="GSI1").all()]
        counters.CounterStore().fill([i for i in linked if i.get("entity") == "key"])
        return ([i["team_id"] for i in linked if i.get("entity") == "member"],
                [i for i in linked if i.get("entity") == "key"])
