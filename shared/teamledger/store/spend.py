"""SpendStore: the note of a spend report with a request_id (POST /spend/track), holding the
tokens of its counter steps, so a retry with the same id takes the same steps."""

from teamledger.store import keys, table
from teamledger.store.marshal import Item


class SpendStore:
    def claim(self, token: str, request_id: str, note: Item, expires: int) -> Item:
        """The note of this key's report `request_id`: `note` if it is the first, else the
        note written first (whose steps a retry takes again)."""
        key = keys.spend_request(token, request_id)
        if table.put_new(key | note | {"entity": "spend_request", "token": token,
                                       "ttl": expires}):
            return note
        found = table.get(key)
        if found is None:  # expired and removed between the two calls: count it now
            return self.claim(token, request_id, note, expires)
        return keys.without_keys(found)
