"""KeyStore: virtual keys by token (only sha256 of a key is ever stored), and a team's keys
(GSI2).

A regenerated key's item moves to its new token; with a grace period its old token's item
becomes a pointer (`moved_to`, `grace_until`, TTL) that reads follow, so the old key works
until then: the key read through it `expires` at the end of the grace period at the latest,
which authentication refuses like any expired key. Without one, the old item is deleted."""

from collections.abc import Callable
from typing import Any

from teamledger.errors import ServiceError
from teamledger.store import counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.table import Transaction

POINTER = "key_pointer"
MAX_HOPS = 3  # pointers followed: a key regenerated again within a grace period
# No `user_role`: authentication reads it from the user's row (keys stored before kept a copy).
AUTH_FIELDS = ("user_id", "team_id", "blocked", "expires", "allowed_routes",
               "entity", "moved_to", "grace_until")


def _version_condition(key: Item) -> tuple[str, Item]:
    # Keys written before versions existed have none: unchanged means still none.
    if "version" in key:
        return "attribute_exists(PK) AND #version = :v", {":v": key["version"]}
    return "attribute_exists(PK) AND attribute_not_exists(#version)", {}


def follow_pointers(item: Item | None, read: Callable[[str], Item | None]) -> Item | None:
    """The key an item is, through pointers (each bounding the key's `expires` by its grace
    period); None: no key, or a chain longer than MAX_HOPS."""
    grace: str | None = None
    for _ in range(MAX_HOPS):
        if item is None or item.get("entity") != POINTER:
            break
        ends = str(item["grace_until"])
        grace = min(grace, ends) if grace else ends
        item = read(str(item["moved_to"]))
    if item is None or item.get("entity") == POINTER:
        return None
    if grace and (not item.get("expires") or grace < item["expires"]):
        item = item | {"expires": grace}
    return item


def _with_spend(token: str) -> Item | None:
    found = counters.CounterStore().read_with_spend([keys.api_key(token)])
    return found[0] if found else None


class KeyStore:
    def get(self, token: str) -> Item | None:
        item = follow_pointers(table.get(keys.api_key(token)),
                               lambda t: table.get(keys.api_key(t)))
        return keys.without_keys(item) if item else None

    def with_spend(self, token: str) -> Item | None:
        """The key and its spend (item and counter in one BatchGetItem; a pointer is
        followed to its key, one more each)."""
        found = follow_pointers(_with_spend(token), _with_spend)
        return keys.without_keys(found) if found else None

    def for_auth(self, token: str) -> Item | None:
        """Only what authentication needs, strongly consistent: a blocked key stops at once.
        A regenerated key's old token costs one more read per pointer, in its grace period."""
        return follow_pointers(table.get(keys.api_key(token), attributes=AUTH_FIELDS),
                               lambda t: table.get(keys.api_key(t), attributes=AUTH_FIELDS))

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

    def first(self, limit: int, *, user_id: str | None = None, team_id: str | None = None,
              key_alias: str | None = None) -> tuple[list[Item], bool]:
        """The first `limit` keys in token order (without spend) of a team (GSI2; narrowed to
        a user's by a filter), of a user (GSI1), or of everyone (GSI5), with `key_alias` as a
        filter; and whether more follow. Each Query asks for just what is missing, plus one."""
        conditions = {"#alias = :alias": ("alias", "key_alias", key_alias),
                      "#user = :user": ("user", "user_id", user_id if team_id else None)}
        where = {c: v for c, v in conditions.items() if v[2] is not None}
        query = table.Query(
            keys.team_keys_partition(team_id) if team_id else
            keys.user_partition(user_id) if user_id else keys.ALL_KEYS,
            index="GSI2" if team_id else "GSI1" if user_id else "GSI5",
            sk_prefix=keys.USER_KEY_PREFIX,
            where=table.Filter(" AND ".join(where), {f"#{n}": a for n, a, _ in where.values()},
                               {f":{n}": v for n, _, v in where.values()}) if where else None)
        found: list[Item] = []
        start: Item | None = None
        while len(found) <= limit:
            items, start = query.page(limit + 1 - len(found), start)
            found += [keys.without_keys(i) for i in items if i.get("entity") == "key"]
            if not start:
                break
        return found[:limit], len(found) > limit

    @staticmethod
    def _stored(key: Item) -> Item:
        token = key["token"]
        return (keys.api_key(token) | keys.key_index(token, key.get("user_id"), key.get("team_id"))
                | keys.reset_index(keys.api_key(token), key.get("budget_reset_at")) |
                {k: v for k, v in key.items() if k != "spend" and v is not None} |
                {"entity": "key"})

    def put_new(self, tx: Transaction, key: Item) -> None:
        tx.put(self._stored(key | {"version": 1}), condition="attribute_not_exists(PK)")

    def replace(self, tx: Transaction, before: Item, after: Item, *, budget: Any = counters.KEEP,
                restart: bool = False, grace_until: str | None = None,
                pointer_ttl: int | None = None, refusal: ServiceError | None = None) -> Item:
        """The key as changed (`after`: all its fields), on condition that it is still the
        version read; returns it. With a new token the item moves there (the old one becomes
        a pointer until `grace_until`, or goes) and its counter, named by the stable id, is
        made if it is not yet (a counter is otherwise made through its entity's item);
        `budget`/`restart` go onto the counter."""
        written = after | {"version": before.get("version", 0) + 1}
        condition, values = _version_condition(before)
        names = {"#version": "version"}
        old = keys.api_key(before["token"])
        moved = after["token"] != before["token"]
        if not moved:
            tx.put(self._stored(written), condition=condition, values=values, names=names,
                   refusal=refusal)
        else:
            tx.put(self._stored(written), condition="attribute_not_exists(PK)")
            if grace_until:
                tx.put(old | {"entity": POINTER, "token": before["token"],
                              "moved_to": after["token"], "grace_until": grace_until,
                              "ttl": pointer_ttl}, condition=condition, values=values,
                       names=names, refusal=refusal)
            else:
                tx.delete(old, condition=condition, values=values, names=names, refusal=refusal)
        tx.reckon(before)
        ref = keys.spend_ref(written | {"entity": "key"})
        if ref is not None and (moved or restart or budget is not counters.KEEP):
            counters.rewrite(tx, ref, budget=after.get("max_budget") if moved else budget,
                             restart=restart)
        return written

    def delete(self, tx: Transaction, key: Item, refusal: ServiceError | None = None) -> None:
        tx.delete(keys.api_key(key["token"]), condition="attribute_exists(PK)", refusal=refusal)
        tx.reckon(key)  # a key may be large (metadata, models): it counts to the 4 MB
        ref = keys.spend_ref(key | {"entity": "key"})
        if ref is not None:
            counters.delete(tx, ref)
