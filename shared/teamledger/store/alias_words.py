"""The alias word index: a small item per word of a team's alias, so an alias search reads
the teams it finds (O(matches)), not every team.

- A word is a run of letters and digits of the alias lowercased: spaces, punctuation and `_`
  split words ("ML-Platform_team 2" is `ml`, `platform`, `team`, `2`). A team is indexed
  under its first WORDS_PER_TEAM distinct words, each by its first WORD_CHARS characters (the
  rest is in the alias the item carries, which a search tests in memory).
- An entry is `ALIASWORD#<word's first character>` / `<word>#<team_id>` in the table (no
  index): the partitions spread by first character, and only admin changes write them. It
  carries what a search filters and sorts on (team id, alias, organization, created_at), so a
  page reads entries and then the page's teams only.
- The entries are written in the transaction of the team change that makes them true
  (`put`, `move`, `remove`), and are no audited objects (the team's record says the alias).
"""

import re
from collections.abc import Iterator

from teamledger import sizes
from teamledger.store import keys, table
from teamledger.store.marshal import Item
from teamledger.store.table import Transaction

WORDS_PER_TEAM = 15  # index entries per team at most: what team/new's transaction has room for
WORD_CHARS = 64  # of a word in its entry's key (at most 256 bytes, beside a 256-byte id)
QUERY_WORDS = 15  # words of a query that are tested (a query is at most 512 characters)
_NOT_WORD = re.compile(r"[\W_]+")
INDEXED = ("team_id", "team_alias", "organization_id", "created_at")  # what an entry carries


def words(text: str | None, limit: int = WORDS_PER_TEAM) -> list[str]:
    """The distinct lowercase words of `text` in the order they come, the first `limit`."""
    found = dict.fromkeys(w for w in _NOT_WORD.split((text or "").lower()) if w)
    return list(found)[:limit]


def query_words(text: str | None) -> list[str]:
    return words(text, QUERY_WORDS)


def prefix_match(alias: str | None, wanted: list[str]) -> bool:
    """Whether every word of `wanted` starts one of the alias's indexed words."""
    own = words(alias)
    return bool(wanted) and all(any(w.startswith(q) for w in own) for q in wanted)


def _key_word(word: str) -> str:
    return word[:WORD_CHARS]


def entries(team: Item) -> dict[tuple[str, str], Item]:
    """The team's entries by key (PK, SK): one per indexed word of its alias."""
    fields = {f: team.get(f) for f in INDEXED}
    found: dict[tuple[str, str], Item] = {}
    for word in words(team.get("team_alias")):
        key = keys.alias_word(_key_word(word), team["team_id"])
        found[(key["PK"], key["SK"])] = key | {"entity": "alias_word"} | {
            f: v for f, v in fields.items() if v is not None}
    return found


def put(tx: Transaction, team: Item) -> None:
    for item in entries(team).values():
        tx.put(item)


def remove(tx: Transaction, team: Item) -> None:
    for pk, sk in entries(team):
        tx.delete(keys.key(pk, sk))


def move(tx: Transaction, old: Item, new: Item) -> None:
    """The entries of `old` replaced by `new`'s, when what they carry changed: the words
    gone deleted, every word now put (its fields may have changed)."""
    if all(old.get(f) == new.get(f) for f in INDEXED):
        return
    now = entries(new)
    for pk, sk in entries(old):
        if (pk, sk) not in now:
            tx.delete(keys.key(pk, sk))
    for item in now.values():
        tx.put(item)


def writes(team: Item) -> int:
    """How many writes `put` or `remove` adds to a transaction for this team."""
    return len(words(team.get("team_alias")))


def starting(word: str) -> Iterator[Item]:
    """Every entry whose word starts with `word` (a Query of its partition, 1 MB pages)."""
    prefix = _key_word(word)
    if not prefix or sizes.utf8_size(prefix) > sizes.SORT_KEY_BYTES:
        return iter(())
    return table.Query(keys.alias_word_partition(prefix), sk_prefix=prefix).all()
