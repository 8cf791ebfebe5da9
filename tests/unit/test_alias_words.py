"""The alias word index's words: what a word is, which of them a team is indexed under, how a
query matches them, and the keys of their entries at the limits; the list cursor that carries
a substring search's count."""

import pytest
from teamledger import cursors, sizes
from teamledger.domain.team_lists import Cursor, Order
from teamledger.errors import BadRequest
from teamledger.store import alias_words, keys
from teamledger.store.alias_words import prefix_match, query_words, words


@pytest.mark.parametrize(("alias", "expected"), [
    ("ml-platform", ["ml", "platform"]),
    ("Platform Team", ["platform", "team"]),
    ("ML.Platform_team 2", ["ml", "platform", "team", "2"]),
    ("  --Ünïcode  Straße!! (prod)  ", ["ünïcode", "straße", "prod"]),
    ("a a A b", ["a", "b"]),
    ("日本語 チーム", ["日本語", "チーム"]),
    ("😀 emoji 😀", ["emoji"]),
    ("#$%&", []),
    ("", []),
    (None, []),
])
def test_words_are_lowercase_runs_of_letters_and_digits_each_once(alias, expected):
    assert words(alias) == expected


def test_a_team_is_indexed_under_its_first_15_distinct_words():
    alias = " ".join(f"w{n}" for n in range(300))
    assert words(alias) == [f"w{n}" for n in range(alias_words.WORDS_PER_TEAM)]
    team = {"team_id": "t1", "team_alias": "x x " + alias, "created_at": "2026-01-01"}
    assert len(alias_words.entries(team)) == alias_words.WORDS_PER_TEAM


@pytest.mark.parametrize(("alias", "query", "found"), [
    ("ml-platform", "plat", True),
    ("Platform Team", "PLAT", True),
    ("templates", "plat", False),  # inside a word: the substring fallback's
    ("ml-platform", "ml plat", True),
    ("ml-platform", "plat ml", True),
    ("Platform Team", "ml plat", False),
    ("ml-platform", "ml-platform", True),
    ("ml-platform", "platforms", False),
    ("plat", "plat plat", True),
    ("anything", "", False),
])
def test_every_query_word_must_start_a_word_of_the_alias(alias, query, found):
    assert prefix_match(alias, query_words(query)) is found


def test_entries_carry_what_a_search_filters_and_sorts_on():
    team = {"team_id": "t1", "team_alias": "ML Platform", "organization_id": None,
            "created_at": "2026-01-01T00:00:00.000000Z", "metadata": {"big": "x" * 100}}
    entries = alias_words.entries(team)
    assert sorted(entries) == [("ALIASWORD#m", "ml#t1"), ("ALIASWORD#p", "platform#t1")]
    assert entries[("ALIASWORD#m", "ml#t1")] == {
        "PK": "ALIASWORD#m", "SK": "ml#t1", "entity": "alias_word", "team_id": "t1",
        "team_alias": "ML Platform", "created_at": "2026-01-01T00:00:00.000000Z"}


def test_an_entry_key_fits_at_the_longest_word_and_id():
    word = "\U00020000" * 256  # a CJK letter of 4 bytes, 256 times: one word of 1,024 bytes
    team_id = "\U0001f600" * (sizes.ID_BYTES // 4)
    (pk, sk), = alias_words.entries({"team_id": team_id, "team_alias": word,
                                      "created_at": "x"}).keys()
    assert sizes.utf8_size(pk) <= sizes.PARTITION_KEY_BYTES
    assert sizes.utf8_size(sk) <= sizes.SORT_KEY_BYTES
    assert sk == f"{word[:alias_words.WORD_CHARS]}#{team_id}"
    assert keys.alias_word_partition(word) == "ALIASWORD#\U00020000"


@pytest.mark.parametrize("found", [None, 0, 7])
def test_a_list_cursor_keeps_a_substring_search_s_count(found):
    cursor = Cursor(Order("team_alias", True), keys.alias_order("t1", "X"), "t1", 3, found)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("values", [
    [2, "created_at", False, "2026#t1", "t1", 2],  # version 2 without its count
    [1, "created_at", False, "2026#t1", "t1", 2, 5],  # version 1 with one
    [2, "created_at", False, "2026#t1", "t1", 2, -1],
    [2, "created_at", False, "2026#t1", "t1", 2, 1.5],
    [2, "created_at", False, "2026#t1", "t1", 2, True],
    [2, "created_at", False, "2026#t1", "t1", 2, 10**9],
])
def test_a_list_cursor_with_a_broken_count_is_refused(values):
    with pytest.raises(BadRequest, match="cursor"):
        Cursor.decode(cursors.encode(values))
