"""Issue 13, defects 9-12, in the layer's own encodings: cursors that do not unwrap are None
(never an exception), timestamps have 4-digit years, the alias order's sort key orders as
(alias, team_id) does, and audit object ids are unambiguous."""

import base64
import itertools
import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from teamledger import cursors
from teamledger.domain import audit, audit_log, budget_reset
from teamledger.errors import BadRequest
from teamledger.store import keys as table_keys
from teamledger.store.team_orders import is_sort_key, sort_key
from teamledger.timestamps import from_iso, to_iso

from tests.unit.conftest import ADMIN


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- defect 9: cursors ---------------------------------------------------------------------

NOT_CURSORS = {
    "1536 open brackets": b"[" * 1536, "760 nested lists": b"[" * 760 + b"]" * 760,
    "300 nested objects": b'{"a":' * 300 + b"1" + b"}" * 300, "a list in a list": b"[[1]]",
    "an object in a list": b'[1,{"a":1}]', "a lone high surrogate": b'[1,"\\ud800"]',
    "a lone low surrogate": b'["\\udfff"]', "an object": b'{"a":1}', "a number": b"1",
    "nothing": b"", "a BOM": b"\xff\xfe", "utf-16": '["x"]'.encode("utf-16"),
    "unclosed": b"[1,2", "NaN and Infinity": b"[NaN,Infinity]", "infinite": b"[1e999]",
}


@pytest.mark.parametrize("raw", [pytest.param(r, id=n) for n, r in NOT_CURSORS.items()])
def test_what_is_no_flat_list_of_json_scalars_is_not_a_cursor(raw):
    assert cursors.decode(_b64(raw)) is None


@pytest.mark.parametrize("text", ["\u00e9", "====", "a", "ab=c", "%%%", "x" * 2049, "\x00"])
def test_text_that_is_no_base64url_is_not_a_cursor(text):
    assert cursors.decode(text) is None


def test_any_text_is_a_cursor_or_none_never_an_exception():
    rng = random.Random(13)
    alphabet = "[]{}\",:1a\\u0d8\u00e9 tfnNI-e."
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60))).encode()
        values = cursors.decode(_b64(raw))
        assert values is None or all(
            v is None or isinstance(v, (int, float, bool)) or isinstance(v, str) and
            v.encode("utf-8", "surrogatepass") == v.encode("utf-8", "ignore") for v in values)


def test_a_cursor_round_trips_with_any_text():
    values = [1, "team_alias", True, "x \u00e9\u2603#t", "t", 2, None, 1.5]
    assert cursors.decode(cursors.encode(values)) == values


# --- defect 10: timestamps -----------------------------------------------------------------

@pytest.mark.parametrize("moment,text", [
    (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00.000000Z"),
    (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000000Z"),
    (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    (datetime(2026, 11, 27, 6, 9, 14, 123456, tzinfo=timezone(timedelta(hours=2))),
     "2026-11-27T04:09:14.123456Z"),
])
def test_timestamps_have_four_digit_years(moment, text):
    assert to_iso(moment) == text
    assert from_iso(text) == moment


def test_text_order_is_time_order_across_year_1000():
    moments = [datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, tzinfo=UTC),
               datetime(1000, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    assert sorted(map(to_iso, moments)) == [to_iso(m) for m in moments]


def _audit_bounds(fake, **bounds):
    query = {}
    fake.audit.page = lambda q, cursor: (query.setdefault("q", q), ([], None))[1]
    audit_log.list_audit(ADMIN, **bounds)
    return query["q"].start, query["q"].end


@pytest.mark.parametrize("bounds,expected", [
    ({"start": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))},
     ("0001-01-01T00:00:00.000000Z", None)),
    ({"end": datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14)))},
     (None, "9999-12-31T23:59:59.999999Z")),
    ({"start": datetime(999, 1, 1), "end": datetime(999, 1, 1, 1, tzinfo=UTC)},
     ("0999-01-01T00:00:00.000000Z", "0999-01-01T01:00:00.000000Z")),
])
def test_audit_bounds_are_utc_text_clamped_to_the_calendar(fake, bounds, expected):
    assert _audit_bounds(fake, **bounds) == expected


def test_audit_start_after_end_is_decided_on_the_times_not_the_clamped_text(fake):
    with pytest.raises(BadRequest, match="start is after end"):
        audit_log.list_audit(ADMIN, start=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=13))),
                             end=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))


# --- defect 11: the alias order --------------------------------------------------------------

INTERESTING = ["", " ", "!", '"', "#", "$", "%", "-", "\t", "\x01", "\x7f", "~", "a", "A", "z",
               "\u00e9", "\u2603", "\U0001f600", "\\", "0"]


def _pairs():
    rng = random.Random(11)
    aliases = ["".join(p) for n in range(3) for p in itertools.product(INTERESTING[:9], repeat=n)]
    aliases += ["".join(rng.choice(INTERESTING) for _ in range(rng.randrange(1, 6)))
                for _ in range(400)]
    team_ids = ["t", "t!", "t#", "t#x", "a", "\u00e9"]
    return [(a, t) for a in aliases for t in rng.sample(team_ids, 2)]


def test_the_alias_sort_key_orders_as_alias_then_team_id_in_utf8_bytes():
    pairs = _pairs()
    by_key = sorted(pairs, key=lambda p: table_keys.alias_order(p[1], p[0]).encode())
    assert by_key == sorted(pairs, key=lambda p: (p[0].lower(), p[1]))


def test_the_alias_sort_key_ends_in_the_team_id_and_is_a_cursors_sort_key():
    for alias, team_id in _pairs()[:500]:
        value = table_keys.alias_order(team_id, alias)
        assert value.endswith(f"#{team_id}")
        assert is_sort_key("team_alias", value, team_id)
        assert sort_key("team_alias", {"team_id": team_id, "team_alias": alias}) == value
    assert table_keys.alias_order("t", None) == table_keys.alias_order("t", "")


def test_the_alias_sort_key_fits_an_index_sort_key_and_orders_by_the_aliass_start():
    longest = "\U0001f600" * 1024
    assert len(table_keys.alias_order("t" * 256, longest).encode()) <= 1024
    assert len(table_keys.alias_order("t" * 256, " " * 1024).encode()) <= 1024
    start = "a" * (table_keys.ALIAS_ORDER_CHARS - 1)
    # Aliases that differ within the first ALIAS_ORDER_CHARS characters keep their order;
    # beyond, they are alike and the team id decides
    assert table_keys.alias_order("z", start + "a") < table_keys.alias_order("a", start + "b")
    assert table_keys.alias_order("a", start + "ab") < table_keys.alias_order("b", start + "aa")


def test_plain_aliases_keep_a_readable_sort_key():
    assert table_keys.alias_order("t1", "Platform-Team_2") == "platform-team_2#t1"


# --- defect 12: audit object ids ---------------------------------------------------------------

def test_plain_ids_are_their_own_object_ids():
    assert audit.object_id("team-1") == "team-1"
    assert audit.membership_id("team-1", "user@example.com") == "team-1:user@example.com"


def test_object_ids_escape_colon_and_percent():
    assert audit.membership_id("P:x", "y") == "P%3Ax:y"
    assert audit.membership_id("P", "x:y") == "P:x%3Ay"
    assert audit.object_id("50%off") == "50%25off"
    assert audit.object_id("%3A") == "%253A"


def test_object_ids_are_unambiguous():
    parts = ["", ":", "%", "%3A", "%25", "a", "a:b", "3A", "%%", "::"]
    built: dict[str, tuple[str, ...]] = {}
    for ids in [(p,) for p in parts] + list(itertools.product(parts, repeat=2)):
        object_id = audit.object_id(*ids)
        assert built.setdefault(object_id, ids) == ids, object_id


def test_a_lookup_finds_what_the_writers_wrote():
    parts = ["a", "a:b", "50%off", "%3A", "x%25y", ":"]
    for ids in [(p,) for p in parts] + list(itertools.product(parts, repeat=2)):
        object_id = audit.object_id(*ids)
        assert audit.lookup_id(object_id) == object_id
        assert audit.lookup_id(object_id.replace("%3A", "%3a")) == object_id
    # A '%' that starts no escape of ours is the character itself
    assert audit.lookup_id("50%off") == "50%25off"
    assert audit.lookup_id("P:x:y") == "P:x:y"  # three parts: no object's


def test_the_budget_reset_names_objects_the_same_way():
    assert budget_reset.object_id({"entity": "team", "team_id": "a:b"}) == "a%3Ab"
    assert budget_reset.object_id({"entity": "member", "team_id": "P:x", "user_id": "y"}) == \
        "P%3Ax:y"
    assert budget_reset.object_id({"entity": "user", "user_id": "5%"}) == "5%25"
    assert budget_reset.object_id({"entity": "key", "token": "ab12"}) == "ab12"


def test_the_audit_route_looks_up_the_canonical_object_id(fake):
    query = {}
    fake.audit.page = lambda q, cursor: (query.setdefault("q", q), ([], None))[1]
    audit_log.list_audit(ADMIN, object_id="P%3ax:y")
    assert query["q"].object_id == "P%3Ax:y"


def test_json_of_an_object_id_is_plain_text():
    assert json.dumps(audit.membership_id("a", "b")) == '"a:b"'
