"""UserStore: user rows, found by id or by email (the email's own item, which makes an email
one user's; GSI2 for users stored before those items), and what links to a user (GSI1: their
memberships and keys)."""

import random
from collections.abc import Iterable
from dataclasses import dataclass

from teamledger import money
from teamledger.errors import ServiceError
from teamledger.store import counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.refs import UserRef
from teamledger.store.table import Transaction


@dataclass(frozen=True)
class UserMatch:
    """GET /user/list's filters, as the list's FilterExpression."""

    role: str | None = None
    email_contains: str | None = None  # case-insensitive

    @property
    def narrows(self) -> bool:
        return bool(self.role or self.email_contains)

    def where(self) -> table.Filter | None:
        parts, names, values = [], {}, {}
        if self.role:
            parts.append("#role = :role")
            names["#role"] = "user_role"
            values[":role"] = self.role
        if self.email_contains:
            parts.append("contains(#email, :email)")
            names["#email"] = "email_lower"
            values[":email"] = keys.normal_email(self.email_contains)
        return table.Filter(" AND ".join(parts), names, values) if parts else None


class UserStore:
    def get(self, user_id: str) -> Item | None:
        item = table.get(keys.user(user_id))
        return keys.without_keys(item) if item else None

    def role_of(self, user_id: str) -> str | None:
        """The user's role, strongly consistent (authentication: a changed role binds at
        once); None when the user has no row."""
        item = table.get(keys.user(user_id), attributes=("user_role",))
        return str(item["user_role"]) if item and item.get("user_role") else None

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
               keys.user_list_index(user["user_id"], user["created_at"],
                                    user.get("user_email")) |
               keys.reset_index(key, user.get("budget_reset_at")) |
               {k: v for k, v in user.items() if k != "spend"} | {"entity": "user"},
               condition="attribute_not_exists(PK)", refusal=refusal)
        if user.get("user_email"):
            tx.put(keys.email(user["user_email"]) | {
                "entity": "email", "user_id": user["user_id"], "user_email": user["user_email"]},
                condition="attribute_not_exists(PK)", refusal=email_refusal)
        self.count(tx, +1)

    def count(self, tx: Transaction, delta: int) -> None:
        """The number of users, in one write per transaction however many users it makes
        or deletes (one of the counter shards, at random)."""
        tx.tally(keys.user_counter_shard(random.randrange(keys.COUNTER_SHARDS)), "user_count",
                 delta)

    def update(self, tx: Transaction, user: Item, changes: Item,
               email_refusal: ServiceError | None = None) -> Item:
        """Write `changes` on condition that the row is still the version read (rows written
        before versions existed condition on having none); returns the new row. A budget or
        a new period is copied onto the user's counter; a new email moves the email's item in
        the same transaction (the old one deleted, the new one refused with `email_refusal`
        if it is another user's)."""
        user_id = user["user_id"]
        key = keys.user(user_id)
        version = int(user.get("version", 0)) + 1
        written = {k: v for k, v in changes.items() if k != "spend"} | {"version": version}
        if "spend" in changes or "max_budget" in changes:  # a new period restarts the counter
            counters.rewrite(tx, UserRef(user_id),
                             budget=changes.get("max_budget", counters.KEEP),
                             restart="spend" in changes)
        if "budget_reset_at" in changes:
            written |= {"GSI4PK": None, "GSI4SK": None} | keys.reset_index(
                key, changes["budget_reset_at"])
        email = changes.get("user_email") or user.get("user_email")
        if changes.get("user_email"):
            written |= keys.user_index(user_id, email)
            self._move_email(tx, user, changes["user_email"], email_refusal)
        # Every change (re)writes the list index: a row from before it joins the list then.
        written |= keys.user_list_index(user_id, user["created_at"], email)
        if "version" in user:
            condition, values = "attribute_exists(PK) AND #version = :v", {":v": user["version"]}
        else:
            condition, values = "attribute_exists(PK) AND attribute_not_exists(#version)", {}
        tx.update(key, written, condition=condition, values=values,
                  names={"#version": "version"})
        return {k: v for k, v in (user | changes | {"version": version}).items()
                if v is not None}

    def _move_email(self, tx: Transaction, user: Item, new_email: str,
                    refusal: ServiceError | None) -> None:
        mine = {":user": user["user_id"]}
        old = user.get("user_email")
        if old and keys.normal_email(old) != keys.normal_email(new_email):
            tx.delete(keys.email(old), condition="attribute_not_exists(PK) OR user_id = :user",
                      values=mine)
        tx.put(keys.email(new_email) | {"entity": "email", "user_id": user["user_id"],
                                        "user_email": new_email},
               condition="attribute_not_exists(PK) OR user_id = :user", values=mine,
               refusal=refusal)

    def delete(self, tx: Transaction, user: Item) -> None:
        """The user row, its counter and its email's item (if it is still this user's);
        one fewer user."""
        user_id = user["user_id"]
        tx.delete(keys.user(user_id), condition="attribute_exists(PK)")
        tx.reckon(user)  # a user may be large (metadata, models): it counts to the 4 MB
        counters.delete(tx, UserRef(user_id))
        if user.get("user_email"):
            tx.delete(keys.email(user["user_email"]),
                      condition="attribute_not_exists(PK) OR user_id = :user",
                      values={":user": user_id})
        self.count(tx, -1)

    # --- GET /user/list: GSI5 `USERS`, newest first ----------------------------------------

    def total(self) -> int:
        """The number of users: the sum of the counter shards (one BatchGetItem)."""
        shards = table.batch_get([keys.user_counter_shard(n)
                                  for n in range(keys.COUNTER_SHARDS)])
        return max(0, int(sum(s.get("user_count", 0) for s in shards)))

    def listed(self, match: UserMatch, skip: int, take: int) -> list[Item]:
        """Users `skip` to `skip + take` of those matching, newest first, with their spend:
        the index is read up to the last of them (Limit what is still wanted; 1 MB pages
        when a filter leaves some out), then one BatchGetItem of their counters."""
        query = self._list_query(match)
        found: list[Item] = []
        start: Item | None = None
        while len(found) < skip + take:
            wanted = None if match.narrows else skip + take - len(found)
            items, start = query.page(wanted, start)
            found += items
            if not start:
                break
        users = [keys.without_keys(i) for i in found[skip:skip + take]]
        return counters.CounterStore().fill(users)

    def count_matching(self, match: UserMatch) -> int:
        """How many users match a filter: a COUNT of the whole list (every user is read)."""
        return self._list_query(match).count()

    def _list_query(self, match: UserMatch) -> table.Query:
        return table.Query(keys.ALL_USERS, index="GSI5", forward=False, where=match.where())

    def linked(self, user_id: str) -> tuple[list[str], list[str]]:
        """The ids of the user's teams and the tokens of their keys, in one Query of GSI1
        (eventually consistent: callers read the items themselves after)."""
        linked = list(table.Query(keys.user_partition(user_id), index="GSI1").all())
        return ([i["team_id"] for i in linked if i.get("entity") == "member"],
                [i["token"] for i in linked if i.get("entity") == "key"])

    def links(self, user_id: str) -> tuple[list[str], list[Item]]:
        """The user's team ids and keys, in one Query of GSI1."""
        linked = [keys.without_keys(i)
                  for i in table.Query(keys.user_partition(user_id), index="GSI1").all()]
        counters.CounterStore().fill([i for i in linked if i.get("entity") == "key"])
        return ([i["team_id"] for i in linked if i.get("entity") == "member"],
                [i for i in linked if i.get("entity") == "key"])

    def memberships_and_keys(self, user_id: str) -> tuple[list[Item], list[Item]]:
        """The user's member items (their memberships) and keys, each with its spend: one
        Query of GSI1, one BatchGetItem of their counters per 100."""
        linked = [keys.without_keys(i)
                  for i in table.Query(keys.user_partition(user_id), index="GSI1").all()]
        members = [i for i in linked if i.get("entity") == "member"]
        user_keys = [i for i in linked if i.get("entity") == "key"]
        counters.CounterStore().fill(members + user_keys)
        return members, user_keys
