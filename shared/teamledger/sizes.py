"""Every size limit of the API in one place, and DynamoDB's own limits they are derived from.

DynamoDB refuses a partition key over 2,048 bytes, a sort key (of the table or of an index)
over 1,024 bytes, an item over 400 KB and a transaction over 4 MB, each as an error that would
be a 500. So text that goes into keys is limited in UTF-8 bytes, as part of a request's shape
(422, `http/models.py`), and values stored as JSON by the size of their JSON, when the value to
store is known (400, `domain/limits.py`). What no limit can foresee (a value far larger stored
than as JSON) is refused by the store before it writes (400, `store/table.py`).

docs/architecture.md ("Sizes") derives each number; tests/unit/test_size_derivation.py builds
every key of `store/keys.py` from text at these limits and checks that it fits.
"""

import json
from typing import Any

# --- DynamoDB's limits ---------------------------------------------------------------------
PARTITION_KEY_BYTES = 2048  # a partition key value, the table's or an index's
SORT_KEY_BYTES = 1024  # a sort key value, the table's or an index's
# An item is at most 400 KB (409,600 bytes) as DynamoDB counts it; moto refuses over 405,000
# bytes of its own count. The store estimates above both (store/marshal.py: item_size) and
# refuses over this.
ITEM_BYTES = 400_000
TRANSACTION_BYTES = 4_000_000  # the items of one TransactWriteItems: at most 4 MB together
TRANSACTION_ITEMS = 100  # and at most 100 writes

# --- text that goes into keys: UTF-8 bytes (422) ------------------------------------------
# Ids: the alias order's sort key is the longest key per id byte: up to 760 bytes of the
# lowercased alias, '#', the team id (store/keys.py: alias_order), within SORT_KEY_BYTES.
ID_BYTES = 256
EMAIL_BYTES = 320  # EMAIL#<lowercased email> (1.5 times at most) is a partition key
ALIAS_BYTES = 1024  # team_alias, key_alias: in no key whole, but in every record of a change
CHANGED_BY_BYTES = 1024  # the litellm-changed-by header: AUDITBY#<it> is GSI9's partition key

# --- values stored as JSON: the bytes of their compact JSON (400) --------------------------
# Stored, JSON takes at most about twice its size (a list of nested lists of one digit: 2 bytes
# of JSON a level, 4 stored), names about their size. A team at every cap then stays far within
# ITEM_BYTES, and so does the record of a change of all of them at once, which holds the old
# and the new values: 2 x (2 x (64 + 16) KiB + 16 KiB) = 352 KiB, with its ids, alias and
# changer (docs/architecture.md, "Sizes"; tests/unit/test_size_derivation.py builds it).
METADATA_BYTES = 65_536  # metadata (teams: with tags and guardrails), of a team, user or key
MODEL_ALIASES_BYTES = 16_384  # a team's model_aliases
MODELS_BYTES = 16_384  # the models list of a team (also as it grows), a user or a key

# --- answers: Lambda answers at most 6 MB (6,291,456 bytes) --------------------------------
# What an answer holds is counted as ASCII JSON (non-ASCII escaped, as the answer is: up to 3
# times its UTF-8) plus ANSWER_ENTRY_BYTES an entity for the fields an answer adds (nulls,
# defaults), against half of Lambda's limit, whatever the entities hold:
# /team/list stops with a 400 (use /v2/team/list) once what it read passes LIST_ANSWER_BYTES;
# a page of /v2/team/list or /audit ends early, with its next_cursor, before passing
# PAGE_ANSWER_BYTES (it holds at least one entry, each far smaller).
# /key/list (full objects) and /user/info refuse (400) an answer past these; /team/info a team
# whose keys pass TEAM_KEYS_ANSWER_BYTES: its 1,000 members (3.6 MB at most) and the team
# (0.3 MB) take the rest.
LIST_ANSWER_BYTES = 3_000_000
PAGE_ANSWER_BYTES = 3_000_000
TEAM_KEYS_ANSWER_BYTES = 1_500_000
ANSWER_ENTRY_BYTES = 512

# --- lists whose entries each take writes of one transaction (422) -------------------------
# /key/delete: a key, its spend counter and its audit record, 3 writes per key.
KEYS_PER_DELETE = TRANSACTION_ITEMS // 3


def utf8_size(text: str) -> int:
    """The bytes of `text` in UTF-8 (a lone surrogate, which no key can hold, counts 3)."""
    return len(text.encode("utf-8", "surrogatepass"))


def answer_size(*values: Any) -> int:
    """About the bytes `values` take in an answer: their JSON with non-ASCII escaped, as the
    answer is (Decimal and other values as text), and room for the fields an answer adds."""
    return sum(len(json.dumps(v, default=str)) for v in values) + ANSWER_ENTRY_BYTES


def fitting(entry_sizes: list[int], budget: int | None = None) -> int:
    """How many leading entries of these sizes fit `budget` (PAGE_ANSWER_BYTES) together (at
    least one)."""
    total = 0
    for count, size in enumerate(entry_sizes):
        total += size
        if total > (PAGE_ANSWER_BYTES if budget is None else budget):
            return max(count, 1)
    return len(entry_sizes)


def json_size(value: Any) -> int:
    """The bytes of `value` as compact JSON in UTF-8, non-ASCII characters as themselves: what
    the JSON caps count."""
    return utf8_size(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
