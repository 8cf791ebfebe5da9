"""KeyStore: virtual keys by token (only sha256 of a key is ever stored), and a team's keys
(GSI2)."""

from teamledger.errors import ServiceError
from teamledger.store import counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.refs import KeyRef
from teamledger.store.table import Transaction

AUTH_FIELDS = ("user_id", "team_id", "user_role", "blocked", "expires", "allowed_routes")


class KeyStore:
    def get(self, token: str) -> Item | None:
        item = table.get(keys.api_key(token))
        return keys.without_keys(item) if item else None

    def with_spend(self, token: str) -> Item | None:
        """The key and its spend (item and counter in one BatchGetItem)."""
        found = counters.CounterStore().read_with_spend([keys.api_key(token)])
        return keys.without_keys(found[0]) if found else None

    def for_auth(self, token: str) -> Item | None:
        """Only what authentication needs, strongly consistent: a blocked key stops at once."""
        return table.get(keys.api_key(token), attributes=AUTH_FIELDS)

    def of_team(self, team_id: str, spend: bool = True) -> list[Item]:
        """The team's keys (with their spend, unless the caller reads it with more)."""
        found = [keys.without_keys(i)
                 for i in table.Query(keys.team_keys_partition(team_id), index="GSI2").all()]
        return counters.CounterStore().fill(found) if spend else found

    def of_member(self, team_id: str, user_id: str) -> list[str]:
        """The tokens of the user's keys of this team: their keys on GSI1, filtered to the team
        (eventually consistent, as every index: callers read the keys themselves after)."""
        query = table.Query(keys.user_partition(user_id), index="GSI1",
                            sk_prefix=keys.USER_KEY_PREFIX,
                            where=table.Filter("#team = :team", {"#team": "team_id"},
                                               {":team": team_id}))
        return [item["token"] for item in query.all()]

    def put_new(self, tx: Transaction, key: Item) -> None:
        token = key["token"]
        tx.put(keys.api_key(token) | keys.key_index(token, key.get("user_id"), key.get("team_id"))
               | keys.reset_index(keys.api_key(token), key.get("budget_reset_at")) |
               {k: v for k, v in key.items() if k != "spend"} |
               {"entity": "key"}, condition="attribute_not_exists(PK)")

    def delete(self, tx: Transaction, key: Item, refusal: ServiceError | None = None) -> None:
        tx.delete(keys.api_key(key["token"]), condition="attribute_exists(PK)", refusal=refusal)
        tx.reckon(key)  # a key may be large (metadata, models): it counts to the 4 MB
        counters.delete(tx, KeyRef(key["token"]))
