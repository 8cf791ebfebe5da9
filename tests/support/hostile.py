"""Hypothesis strategies for hostile request values (issue 13): text of 1 to ~500,000 UTF-8
bytes (multi-byte, whitespace-only, BOM, line separators, controls, lone surrogates), lists of
thousands of entries, maps deep, wide and with odd keys, and numbers as JSON literals
(NaN, Infinity, 1e400, 1e-400, 400-digit integers, fractions where integers are wanted).

Bodies are plain Python values in which a `Raw` stands for a JSON literal that json.dumps cannot
write as such (`1e400` would be `Infinity`, `1e-400` would be `0.0`); `to_json` writes the body
with those literals in place. A string equal to a placeholder ("<team>", "<user>"...) is an id
of the test's own objects, filled in right before the request (`fill`).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

EMOJI = "\U0001f600"  # 4 bytes in UTF-8
MAX_TEXT_BYTES = 500_000

# One unit of text, repeated to a size: 1, 2, 3 and 4 UTF-8 bytes, whitespace of every kind,
# a BOM, line and paragraph separators, controls (C0, DEL, C1), zero-width and bidi marks, a
# combining accent, the separators the table's keys are built with, and lone surrogates (valid
# JSON escapes, no valid UTF-8).
UNITS = ("a", "\u00e9", "\u20ac", EMOJI, " ", "\t", "\u00a0", "\u3000", "\ufeff", "\u2028",
         "\u2029", "\x00", "\x1f", "\x7f", "\x85", "\u200b", "\u202e", "\u0301", "#", ":", "%",
         "/", "\\", '"', "\ud800", "\udfff", "\U0001f469\u200d\U0001f467")
# Byte sizes at and around the limits: ids 256, emails 320, names 512, aliases and a sort key
# 1,024, a partition key 2,048, the JSON caps, DynamoDB's 400 KB item, and beyond.
SIZES = (1, 2, 3, 4, 255, 256, 257, 319, 320, 321, 511, 512, 513, 1023, 1024, 1025, 2047, 2048,
         2049, 4096, 32_768, 32_769, 65_535, 65_536, 65_537, 131_072, 300_000, 399_999, 409_600,
         409_601, MAX_TEXT_BYTES)
SPECIAL_TEXTS = ("", " ", "   ", "\t", "\n", "\r\n", "\ufeff", "\u2028", "\u2029", "\u3000",
                 "\u00a0", "\u200b", " x ", "\ufeffx", "x\u2028", "x\u2029y", "\x00", "a\x00b",
                 "\x7f", "\x85", EMOJI, "\ud800", "x\udfff", "#", "TEAM#x", "a#b", "a:b", "50%",
                 "%3A", "%25", "..", "/", "\\", "null", "NaN", "\u0301")
# Element counts of lists: at and around every documented bound, and thousands.
COUNTS = (0, 1, 2, 18, 19, 20, 21, 24, 25, 40, 41, 50, 51, 100, 101, 500, 501, 999, 1000, 1001,
          2000, 5000)
# JSON number literals as the body carries them (Python's json reads all of them; a string,
# a boolean, null, an array and an object stand in where a number is wanted).
NUMBER_LITERALS = (
    "NaN", "Infinity", "-Infinity", "-1", "-0", "-0.0", "0", "0.0", "1e-400", "-1e-400",
    "1e400", "-1e400", "1e-131", "1e-130", "1.5e-130", "1e-11", "1e-10", "0.01", "0.1", "1",
    "1.5", "5.0", "1e15", "1000000000000000", "1000000000000001", "1.0000000000000002e15",
    "1e16", "1e38", "1e125", "1e126", "1e308", "1.7976931348623157e308", "5e-324",
    "9" * 38, "1" + "0" * 38, "1" + "0" * 400, "-" + "9" * 400, "1" + "0" * 5000,
    "18446744073709551616", "9007199254740993", "3600", "3601", "600.0", "600.5", "true",
    "false", "null", '"1"', '"NaN"', '"Infinity"', '""', "[]", "{}", "[1]", "1E5", "1.0e+2",
)


@dataclass(frozen=True)
class Raw:
    """A JSON literal written into the body as it is (`1e400`, `NaN`, a 400-digit integer)."""

    text: str

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else f"{self.text[:40]}...({len(self.text)})"
        return f"Raw({text!r})"


def to_json(body: Any, ensure_ascii: bool = True) -> str:
    """The JSON text of `body`, each `Raw` written as its literal."""
    literals: list[str] = []
    tag = f"raw-{uuid.uuid4().hex}-"

    def swap(value: Any) -> Any:
        if isinstance(value, Raw):
            literals.append(value.text)
            return f"{tag}{len(literals) - 1}"
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    text = json.dumps(swap(body), ensure_ascii=ensure_ascii)
    if not literals:
        return text
    return re.sub(f'"{tag}(\\d+)"', lambda match: literals[int(match.group(1))], text)


def fill(value: Any, ids: dict[str, str]) -> Any:
    """`value` with every string that is exactly a placeholder replaced by its id."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    return value


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def sized_text(unit: str, n_bytes: int, prefix: str = "") -> str:
    """`prefix`, then `unit` repeated, then ASCII to make `n_bytes` UTF-8 bytes in all (a lone
    surrogate counts its 3 bytes)."""
    rest = n_bytes - utf8_size(prefix)
    if rest <= 0:
        return prefix
    width = utf8_size(unit)
    return prefix + unit * (rest // width) + "a" * (rest % width)


# Bodies are kept to about this much JSON: beyond 1 MiB every body is the same 413, and a list
# of thousands of 500 KB entries would only cost memory.
BODY_BUDGET = 1_500_000


def json_bytes(value: Any) -> int:
    """An upper bound of the JSON size of `value` (escapes included)."""
    if isinstance(value, str):
        return 3 * utf8_size(value) + 2
    return len(to_json(value))


def fit(count: int, entry: Any) -> int:
    """`count`, or fewer, so that `count` copies of `entry` stay within BODY_BUDGET."""
    return max(1, min(count, BODY_BUDGET // max(1, json_bytes(entry) + 2)))


def describe(value: Any, limit: int = 200) -> str:
    """A short form of a (maybe huge) value for failure reports: sizes instead of content."""
    if isinstance(value, str):
        if len(value) <= 40:
            return repr(value)
        return (f"<str {len(value)} chars / {utf8_size(value)} bytes: "
                f"{value[:12]!r}...{value[-6:]!r}>")
    if isinstance(value, Raw):
        return repr(value)
    if isinstance(value, list):
        inner = ", ".join(describe(v, 60) for v in value[:3])
        more = f", ... ({len(value)} entries)" if len(value) > 3 else ""
        text = f"[{inner}{more}]"
    elif isinstance(value, dict):
        inner = ", ".join(f"{describe(k, 40)}: {describe(v, 80)}"
                          for k, v in list(value.items())[:3])
        depth, node = 0, value
        while isinstance(node, dict) and len(node) == 1:
            node, depth = next(iter(node.values())), depth + 1
        more = f", ... ({len(value)} keys)" if len(value) > 3 else ""
        deep = f" <nested {depth} levels>" if depth > 3 else ""
        text = "{" + inner + more + "}" + deep
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- strategies -------------------------------------------------------------------------

def sizes(max_bytes: int = MAX_TEXT_BYTES) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([s for s in SIZES if s <= max_bytes]),
                     st.integers(1, max_bytes))


def char_sized(unit: str, n_chars: int) -> str:
    """`unit` repeated to exactly `n_chars` code points (a sequence may be cut in its middle)."""
    return (unit * (n_chars // len(unit) + 1))[:n_chars]


def texts(limit: int | None = None, max_bytes: int = MAX_TEXT_BYTES) -> st.SearchStrategy[str]:
    """Hostile text: the special values; with a documented `limit` (in characters), text of
    every unit at, just under and just over it (so most of it passes the length check and
    reaches the table, up to 4 bytes a character); text of a byte size up to `max_bytes`; or
    Hypothesis' own."""
    options = [st.sampled_from(SPECIAL_TEXTS)]
    if limit is not None:
        at_limit = st.builds(char_sized, st.sampled_from(UNITS), st.one_of(
            st.sampled_from((1, 2, limit - 1, limit, limit + 1)), st.integers(1, limit)))
        options += [at_limit, at_limit]
    options += [st.builds(sized_text, st.sampled_from(UNITS), sizes(max_bytes),
                          st.sampled_from(("", "x", " ", "\ufeff", "id-"))),
                st.text(max_size=12)]
    return st.one_of(*options)


_UNSENDABLE_IN_HEADERS = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


def header_texts(limit: int | None = None) -> st.SearchStrategy[str]:
    """Hostile text an HTTP header can carry: no lone surrogates (no UTF-8 for them) and no
    control characters but tab (HTTP forbids them in a field value)."""
    return texts(limit).map(lambda text: _UNSENDABLE_IN_HEADERS.sub("?", text))


ID_CHARS = 256  # docs/api.md, "Identifiers and text"


def ids(*valid: str, limit: int = ID_CHARS) -> st.SearchStrategy[str]:
    """An id field: one of the valid placeholders, or hostile text."""
    return st.one_of(st.sampled_from(valid), texts(limit)) if valid else texts(limit)


EMAIL_CHARS = 320
SPECIAL_EMAILS = ("", "@", "a@", "@b", "a@b", "a@b@c", " a@b.co", "a@b.co ", "a @b.co",
                  "\ufeffa@b.co", "a@b.co\u2028", "A@EXAMPLE.COM", f"{EMOJI}@{EMOJI}",
                  "a\x00@b.co", "a@b\x7f", "\ud800@b.co", "a" * 308 + "@example.com",
                  "a" * 309 + "@example.com", "\u00e9" * 154 + "@example.com",
                  EMOJI * 77 + "@example.com", EMOJI * 78 + "@example.com")


def emails(*valid: str) -> st.SearchStrategy[str]:
    domains = st.sampled_from(("example.com", f"{EMOJI}.com", "ex\u2028ample.com", "x",
                               "\u00e9" * 200))
    made = st.builds(lambda local, domain: f"{local}@{domain}", texts(EMAIL_CHARS), domains)
    # Local parts that make the whole email 320 characters, one less or one more.
    at_limit = st.builds(lambda unit, n: char_sized(unit, n) + "@example.com",
                         st.sampled_from(UNITS), st.one_of(
                             st.sampled_from((1, 307, 308, 309)), st.integers(1, 308)))
    options = [st.sampled_from(SPECIAL_EMAILS), made, at_limit, at_limit]
    if valid:
        options.insert(0, st.sampled_from(valid))
    return st.one_of(*options)


def numbers() -> st.SearchStrategy[Any]:
    """A number field: JSON literals (also non-numbers), any float, integers big and small."""
    return st.one_of(
        st.sampled_from(NUMBER_LITERALS).map(Raw),
        st.floats().map(lambda x: Raw(json.dumps(x))),
        st.integers(-(10**20), 10**20),
        st.integers(20, 600).map(lambda n: Raw("9" * n)),
        st.builds(lambda m, e: Raw(f"{m}e{e}"), st.integers(-9, 9), st.integers(-500, 500)),
    )


def booleans() -> st.SearchStrategy[Any]:
    return st.one_of(st.booleans(), st.sampled_from(
        ("true", "yes", "1", "", "\u2028", None, Raw("NaN"), Raw("2"), [], {})))


def json_leaves() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), numbers(), texts(max_bytes=2048))


def json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        json_leaves(),
        lambda children: st.one_of(st.lists(children, max_size=4),
                                   st.dictionaries(map_keys(), children, max_size=4)),
        max_leaves=12)


def map_keys() -> st.SearchStrategy[str]:
    """Odd object keys: the empty key, whitespace, BOM, separators, expression syntax, keys at
    and over DynamoDB's 64 KB attribute name, multi-byte, controls, lone surrogates."""
    return st.one_of(
        st.sampled_from(("", " ", "\ufeff", "\u2028", "#", "#name", ":v", ".", "a.b", "[0]",
                         "$", "\x00", "\ud800", EMOJI, "PK", "SK", "entity", "__proto__",
                         "metadata", "tags")),
        st.builds(sized_text, st.sampled_from(("a", "\u00e9", EMOJI, " ")),
                  st.sampled_from((255, 256, 1024, 65_535, 65_536, 65_537, 200_000))),
        st.text(max_size=8),
    )


def nested(depth: int, leaf: Any, key: str = "n") -> Any:
    value = leaf
    for _ in range(depth):
        value = {key: value}
    return value


def nested_lists(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def wide(count: int, key_prefix: str, leaf: Any) -> dict:
    count = fit(count, {key_prefix + "00000": leaf})
    return {f"{key_prefix}{i}": leaf for i in range(count)}


def maps() -> st.SearchStrategy[Any]:
    """A JSON-object field (metadata, model_aliases): deep, wide, odd keys, big, not an object."""
    depth = st.sampled_from((1, 2, 30, 31, 32, 33, 34, 40, 64, 200))
    return st.one_of(
        st.builds(nested, depth, json_leaves(), st.sampled_from(("n", "", " ", EMOJI))),
        st.builds(lambda d, leaf: {"list": nested_lists(d, leaf)}, depth, json_leaves()),
        st.builds(wide, st.sampled_from((100, 1000, 5000, 20_000)),
                  st.sampled_from(("k", "", EMOJI, "\ufeff", "#")), json_leaves()),
        st.builds(lambda key, value: {key: value}, map_keys(), json_values()),
        st.builds(lambda key, value: {"ok": 1, key: value}, map_keys(), json_leaves()),
        st.dictionaries(map_keys(), json_values(), max_size=6),
        st.builds(lambda n, digit: {"n": [digit] * n},
                  st.sampled_from((1000, 50_000, 200_000)), st.sampled_from((1, Raw("1e-400")))),
        st.builds(lambda text: {"blob": text}, texts()),
        json_values(),  # mostly not an object
    )


def counts(bound: int | None = None, most: int = 5000) -> st.SearchStrategy[int]:
    """List lengths: at and around the field's documented `bound`, the other bounds of the API,
    and any count up to `most`."""
    options = [st.sampled_from(COUNTS), st.integers(0, most)]
    if bound is not None:
        options.insert(0, st.sampled_from((1, 2, bound - 1, bound, bound + 1)))
    return st.one_of(*options)


def lists_of(entry: st.SearchStrategy[Any], valid: tuple[str, ...] = (),
             limit: int | None = None, bound: int | None = None,
             distinct_max_bytes: int = 2048) -> st.SearchStrategy[Any]:
    """A list field (`bound` entries at most, each `limit` characters at most): one entry
    repeated, distinct entries, a hostile entry among valid ones, wrong element types, counts at
    the bounds and in the thousands, or not a list at all."""
    good = st.sampled_from(valid) if valid else st.just("ok")

    def repeated(n: int, e: Any) -> list:
        return [e] * (fit(n, e) if n else 0)

    def distinct(n: int, prefix: str) -> list[str]:
        return [f"{prefix}{i}" for i in range(fit(n, prefix + "00000") if n else 0)]

    def among(n: int, valid_entry: Any, bad: Any, at: int) -> list:
        entries = [valid_entry] * max(0, n - 1)
        entries.insert(min(at, len(entries)), bad)
        return entries

    return st.one_of(
        st.builds(repeated, counts(bound), entry),
        st.builds(distinct, counts(bound), texts(limit - 4 if limit else None,
                                                 max_bytes=distinct_max_bytes)),
        st.builds(among, counts(bound, 1000), good, entry, st.integers(0, 999)),
        st.lists(entry, min_size=1, max_size=4),
        st.lists(json_values(), min_size=1, max_size=4),
        json_leaves(),
    )


def durations() -> st.SearchStrategy[Any]:
    units = st.sampled_from(("s", "m", "h", "d", "w", "mo", "y", "D", "MO", ""))
    return st.one_of(
        st.sampled_from(("1d", "30s", "1200mo", "1201mo", "5270400m", "3162240000s",
                         "3162240001s", "9999999d", "10000000d", "0d", "-1d", "1.5d", "1d ",
                         " 1d", "1d\u2028", "\ufeff1d", "\u0661d", "\U0001d7cfd", "P1D", "30days",
                         "1" * 400_000 + "d", "0" * 300 + "1d")),
        st.builds(lambda n, unit: f"{n}{unit}", st.integers(-5, 10**12), units),
        texts(1024),
        numbers(),
    )


ROLES = ("admin", "user", "Admin", "ADMIN", "owner", "", " admin", "admin\u2028", "proxy_admin",
         "user\x00")
USER_ROLES = ("proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer",
              "PROXY_ADMIN", "admin", "", "\ufeffproxy_admin")


def members(*valid_ids: str) -> st.SearchStrategy[Any]:
    """One Member: by id or email, with a role, odd fields, or not an object."""
    member_id = ids(*valid_ids)
    role = st.one_of(st.sampled_from(ROLES), texts(8), numbers())
    return st.one_of(
        st.fixed_dictionaries({"user_id": member_id}),
        st.fixed_dictionaries({"user_email": emails()}),
        st.fixed_dictionaries({"user_id": member_id, "role": role}),
        st.fixed_dictionaries({}, optional={"user_id": member_id, "user_email": emails(),
                                            "role": role}),
        json_values(),
    )


def member_lists(*valid_ids: str, bound: int | None = None) -> st.SearchStrategy[Any]:
    """A list of Members: new users by the hundred and thousand (by id or email), one member
    repeated, a hostile member among valid ones."""
    prefix = texts(ID_CHARS - 4, max_bytes=1200)

    def by_id(n: int, p: str) -> list[dict]:
        n = fit(n, {"user_id": p + "00000"}) if n else 0
        return [{"user_id": f"{p}{i}"} for i in range(n)]

    def by_email(n: int, p: str) -> list[dict]:
        n = fit(n, {"user_email": p + "00000@example.com"}) if n else 0
        return [{"user_email": f"{p}{i}@example.com"} for i in range(n)]

    def repeated(n: int, member: Any) -> list:
        return [member] * (fit(n, member) if n else 0)

    return st.one_of(
        st.builds(by_id, counts(bound, 3000), prefix),
        st.builds(by_email, counts(bound, 3000), prefix),
        st.builds(repeated, counts(bound, 3000), members(*valid_ids)),
        st.lists(members(*valid_ids), min_size=1, max_size=4),
        json_leaves(),
    )


ROUTE_PATTERNS = ("/spend/*", "/key/info", "/", "/*", "//", "/a/../b", "/team/*/x", "/*/*",
                  "/" + "a" * 255, "/" + "a" * 256, f"/{EMOJI}", "/\u2028", "spend/*", "/a b")


def route_patterns() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(ROUTE_PATTERNS), texts(256, max_bytes=2048))
