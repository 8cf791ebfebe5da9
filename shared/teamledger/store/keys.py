"""Every key string of the single table. Only the stores of this package use it: nothing
outside `teamledger.store` knows the layout (docs/architecture.md has it as a table)."""

import hashlib
from typing import Any
from zlib import crc32

from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef

Key = dict[str, str]
Attributes = dict[str, Any]

TEAM_SK = "TEAM"
ROSTER_SK = "ROSTER"
USER_SK = "USER"
KEY_SK = "KEY"
MEMBER_PREFIX = "MEMBER#"
TEAM_LINK_PREFIX = "TEAM#"  # a member item's GSI1SK: the user's link to that team
USER_KEY_PREFIX = "KEY#"  # a key item's GSI1SK: the user's link to that key
ALL_TEAMS = "TEAMS"  # the partition of the three team-order indexes (GSI3, GSI5, GSI6)
ALL_KEYS = "KEYS"  # every key, on GSI5 (key/list)
TEAM_DATA = "TEAMDATA"  # GSI7: every team, member and team key, grouped by team
TEAM_COUNTER_PK = "COUNTER#TEAMS"
COUNTER_SHARDS = 10
RESET_SHARDS = 16


def key(pk: str, sk: str) -> Key:
    return {"PK": pk, "SK": sk}


def team(team_id: str) -> Key:
    return key(f"TEAM#{team_id}", TEAM_SK)


def roster(team_id: str) -> Key:
    """The team's roster: a copy of its first members for the list pages, in an item of its
    own (no index holds it), so the team item stays small."""
    return key(f"TEAM#{team_id}", ROSTER_SK)


def team_partition(team_id: str) -> str:
    return f"TEAM#{team_id}"


def member(team_id: str, user_id: str) -> Key:
    return key(f"TEAM#{team_id}", f"{MEMBER_PREFIX}{user_id}")


def user(user_id: str) -> Key:
    return key(f"USER#{user_id}", USER_SK)


def api_key(token: str) -> Key:
    return key(f"KEY#{token}", KEY_SK)


def team_counter_shard(n: int) -> Key:
    return key(TEAM_COUNTER_PK, f"SHARD#{n}")


def audit(object_id: str, updated_at: str, audit_id: str) -> Key:
    return key(audit_partition(object_id), f"{updated_at}#{audit_id}")


def audit_partition(object_id: str) -> str:
    return f"AUDIT#{object_id}"


# GET /audit without an object_id: every record in time order (GSI8), a caller's (GSI9), a
# LiteLLM table's (GSI10), a team's (GSI11: the team's own, its memberships' and its keys'
# records). Sort keys are the record's own `<updated_at>#<id>`.
AUDIT_LOG = "AUDITLOG"
AUDIT_INDEXES = {"team_id": "GSI11", "changed_by": "GSI9", "table_name": "GSI10", None: "GSI8"}


def audit_index(changed_by: str | None, table_name: str, order: str,
                team_id: str | None = None) -> Attributes:
    attrs = {"GSI8PK": AUDIT_LOG, "GSI8SK": order,
             "GSI10PK": audit_table_partition(table_name), "GSI10SK": order}
    if changed_by:
        attrs |= {"GSI9PK": audit_changer_partition(changed_by), "GSI9SK": order}
    if team_id:
        attrs |= {"GSI11PK": audit_team_partition(team_id), "GSI11SK": order}
    return attrs


def audit_team_partition(team_id: str) -> str:
    return f"AUDITTEAM#{team_id}"


def audit_changer_partition(changed_by: str) -> str:
    return f"AUDITBY#{changed_by}"


def audit_table_partition(table_name: str) -> str:
    return f"AUDITTABLE#{table_name}"


# The audit publisher's note that a record reached the audit carrier (template.yaml lets the
# publisher write these keys only: keep the prefix in step with its LeadingKeys condition).
AUDIT_PUBLISHED_PREFIX = "AUDITPUB#"


def audit_published(audit_id: str) -> Key:
    return key(f"{AUDIT_PUBLISHED_PREFIX}{audit_id}", "PUBLISHED")


# A spend report counted (POST /spend/track with a request_id): one partition per hashed
# (key token, request id), so a retry finds it and the reports spread like everything else;
# TTL (`ttl`) removes them.
SPEND_REQUEST_PREFIX = "SPENDREQ#"


def spend_request(token: str, request_id: str) -> Key:
    digest = hashlib.sha256(f"{token}\n{request_id}".encode()).hexdigest()
    return key(f"{SPEND_REQUEST_PREFIX}{digest}", "COUNTED")


# An Idempotency-Key record (Powertools Idempotency): one partition per hashed (caller, route,
# header value), so the records spread like every other entity; TTL (`ttl`) removes them.
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"


def idempotency_record(idempotency_key: str) -> Key:
    return key(f"{IDEMPOTENCY_PREFIX}{idempotency_key}", "IDEMPOTENCY")


# Counters: each budget scope's `spend`, `reserved` and `used` (= spend + reserved) in a small
# item of its own, so a call never rewrites an entity item. A key's, a user's and a team's sit
# in that entity's partition (the team partition's Query reads the team's with the team); the
# memberships' have a partition per team of their own, apart from the team's (per call: ≤ 2
# WCU on any one partition key).
COUNTER_SK = "SPEND"
MEMBER_COUNTER_PREFIX = "SPEND#"
MEMBER_COUNTERS = "MEMBERSPEND#"


def counter(ref: Ref) -> Key:
    if isinstance(ref, TeamRef):
        return key(team_partition(ref.team_id), COUNTER_SK)
    if isinstance(ref, MemberRef):
        return key(f"{MEMBER_COUNTERS}{ref.team_id}", f"{MEMBER_COUNTER_PREFIX}{ref.user_id}")
    if isinstance(ref, UserRef):
        return key(user_partition(ref.user_id), COUNTER_SK)
    return key(f"KEY#{ref.token}", COUNTER_SK)


def counter_ref(item: Attributes) -> Ref | None:
    """The entity a counter item counts for (None: not a counter)."""
    if item.get("entity") != "counter":
        return None
    return ref_of(item | {"entity": _ENTITY_OF_SCOPE.get(str(item.get("scope")), "key")})


_ENTITY_OF_SCOPE = {"team": "team", "team_membership": "member", "user": "user", "key": "key"}


# A reservation (POST /spend/reserve): one partition each. While its lease may run out it is in
# the lease index (GSI4, `LEASE#<shard>`, sorted by expiry), sharded by its team, so the shards
# are not written by every team and a team's calls spread over LEASE_SPREAD of them.
RESERVATION_PREFIX = "RSV#"
RESERVATION_SK = "RESERVATION"
LEASE_SHARDS = 64
LEASE_SPREAD = 4


def reservation(reservation_id: str) -> Key:
    return key(f"{RESERVATION_PREFIX}{reservation_id}", RESERVATION_SK)


def lease_shard(shard: int) -> str:
    return f"LEASE#{shard}"


def lease_index(reservation_id: str, team_id: str | None, expires_at: str) -> Attributes:
    spread = crc32(reservation_id.encode()) % LEASE_SPREAD
    shard = (crc32((team_id or "").encode()) + spread) % LEASE_SHARDS
    return {"GSI4PK": lease_shard(shard), "GSI4SK": f"{expires_at}#{reservation_id}"}


# The spend order of /v2/team/list: one small item per team, written off the call path by the
# spend-order consumer of the table's stream, in GSI6 sharded over SPEND_ORDER_SHARDS partitions
# that a page merges.
SPEND_ORDER_PREFIX = "SPENDORDER#"
SPEND_ORDER_SHARDS = 4


def spend_order_item(team_id: str) -> Key:
    return key(f"{SPEND_ORDER_PREFIX}{team_id}", "ORDER")


def spend_order_shard(shard: int) -> str:
    return f"TEAMSBYSPEND#{shard}"


def is_member_sk(sk: str) -> bool:
    return sk.startswith(MEMBER_PREFIX)


# Secondary-index attributes, by entity. An entity without the relation gets no attribute,
# which keeps each index sparse.

# The team orders of the list routes. Each sort key ends in `#<team_id>`, so equal values are
# ordered by team id, and a page boundary (a cursor) is one exact key.
TEAM_ORDERS = {"team_alias": "GSI3", "created_at": "GSI5", "spend": "GSI6"}
# GSI6 (spend) is sharded: SPEND_ORDER_SHARDS partitions, merged by a page.


# The alias order's sort key, `<alias>#<team_id>`, orders as (alias lowercased, team_id) do,
# in UTF-8 bytes as DynamoDB compares sort keys. For that, the '#' ending the alias must sort
# below every character the alias part holds (else "x platform" came before "x", ' ' < '#'):
# each character up to '$' (controls, ' ', '!', '"', '#', '$') is written as '$' and one of
# '@' to 'd' ('$' + chr(0x40 + c)), which keeps their order, above '#' and below '%'. The
# part is the alias's first ALIAS_ORDER_CHARS characters (at most 4 bytes each: with a
# 256-character id the key stays within an index sort key's 1,024 bytes); aliases alike that
# far are ordered by team id. Every list sorts by this key (team_orders.sort_key).
ALIAS_ORDER_CHARS = 190
_ALIAS_ESCAPES = {c: f"${chr(0x40 + c)}" for c in range(ord("$") + 1)}


def alias_order(team_id: str, team_alias: str | None) -> str:
    alias = (team_alias or "").lower()[:ALIAS_ORDER_CHARS].translate(_ALIAS_ESCAPES)
    return f"{alias}#{team_id}"


# The alias word index (store/alias_words.py): an item per indexed word of a team's alias,
# in the partition of the word's first character, sorted by word, then team id. Words hold
# no '#' (they are letters and digits), so a word prefix matches only words.
ALIAS_WORD_PREFIX = "ALIASWORD#"


def alias_word_partition(word: str) -> str:
    return f"{ALIAS_WORD_PREFIX}{word[:1]}"


def alias_word(word: str, team_id: str) -> Key:
    return key(alias_word_partition(word), f"{word}#{team_id}")


def team_of_key(pk: str) -> str:
    """The team id of a team item's PK (a LastEvaluatedKey's)."""
    return pk.removeprefix("TEAM#")


def created_order(team_id: str, created_at: str) -> str:
    return f"{created_at}#{team_id}"  # ISO-8601 with fixed width: text order is time order


def spend_order(team_id: str, spend_units: int | None) -> str:
    """Spend in units, zero-padded to a fixed width: text order is number order."""
    return f"{max(0, int(spend_units or 0)):026d}#{team_id}"


def alias_index(team_id: str, team_alias: str | None) -> Attributes:
    return {"GSI3PK": ALL_TEAMS, "GSI3SK": alias_order(team_id, team_alias),
            "alias_lower": team_alias.lower() if team_alias else None}


def spend_index(team_id: str, spend_units: int | None) -> Attributes:
    shard = crc32(team_id.encode()) % SPEND_ORDER_SHARDS
    return {"GSI6PK": spend_order_shard(shard), "GSI6SK": spend_order(team_id, spend_units)}


def team_index(team: Attributes) -> Attributes:
    """All index attributes of a team item: its place in two orders and in TEAMDATA (the spend
    order is an item of its own)."""
    team_id = team["team_id"]
    return alias_index(team_id, team.get("team_alias")) | {
        "GSI5PK": ALL_TEAMS, "GSI5SK": created_order(team_id, team["created_at"]),
        "GSI7PK": TEAM_DATA, "GSI7SK": f"{team_id}#T"}


def team_data_prefix(team_id: str) -> str:
    return f"{team_id}#"


def member_index(team_id: str, user_id: str) -> Attributes:
    return {"GSI1PK": f"USER#{user_id}", "GSI1SK": f"{TEAM_LINK_PREFIX}{team_id}",
            "GSI7PK": TEAM_DATA, "GSI7SK": f"{team_id}#M#{user_id}"}


def user_index(user_id: str, user_email: str | None) -> Attributes:
    if not user_email:
        return {}
    return {"GSI2PK": email_partition(user_email), "GSI2SK": f"USER#{user_id}"}


def email_partition(user_email: str) -> str:
    return f"EMAIL#{normal_email(user_email)}"


def normal_email(user_email: str) -> str:
    """An email as it is unique and looked up: the whole address lowercased (str.lower), so
    `Ann@X.com` and `ann@x.com` are one email. The stored `user_email` keeps the case given."""
    return user_email.lower()


EMAIL_SK = "EMAIL"


def email(user_email: str) -> Key:
    """The email's own item (`user_id`: whose it is): one per email, written with its user in
    one transaction on condition that it does not exist, so no two users share an email. Its
    PK is the user row's GSI2PK; the two never meet (table vs index)."""
    return key(email_partition(user_email), EMAIL_SK)


# GET /user/list: every user row in GSI5 under a partition of its own (the teams' created
# order is `TEAMS`), sorted by creation; `email_lower` is what the email filter reads. The
# number of users is kept in COUNTER_SHARDS items, written in the users' transactions.
ALL_USERS = "USERS"
USER_COUNTER_PK = "COUNTER#USERS"


def user_list_index(user_id: str, created_at: str, user_email: str | None) -> Attributes:
    attrs: Attributes = {"GSI5PK": ALL_USERS, "GSI5SK": created_order(user_id, created_at)}
    return attrs | ({"email_lower": normal_email(user_email)} if user_email else {})


def user_counter_shard(n: int) -> Key:
    return key(USER_COUNTER_PK, f"SHARD#{n}")


def key_index(token: str, user_id: str | None, team_id: str | None) -> Attributes:
    # Every key is in ALL_KEYS (GSI5, beside the teams' created order under its own partition
    # key), in token order as on GSI1 and GSI2: /key/list's pages of all keys.
    attrs: Attributes = {"GSI5PK": ALL_KEYS, "GSI5SK": f"{USER_KEY_PREFIX}{token}"}
    if user_id:
        attrs |= {"GSI1PK": f"USER#{user_id}", "GSI1SK": f"{USER_KEY_PREFIX}{token}"}
    if team_id:
        attrs |= {"GSI2PK": team_keys_partition(team_id), "GSI2SK": f"KEY#{token}",
                  "GSI7PK": TEAM_DATA, "GSI7SK": f"{team_id}#K#{token}"}
    return attrs


def team_keys_partition(team_id: str) -> str:
    return f"TEAMKEYS#{team_id}"


def user_partition(user_id: str) -> str:
    return f"USER#{user_id}"


def reset_shard(shard: int) -> str:
    return f"RESET#{shard}"


def reset_index(key: Attributes, budget_reset_at: str | None) -> Attributes:
    """The sparse, sharded index of budgets due (read by the reset job). The shard comes from
    the whole key, so the member budgets of one team spread like everything else."""
    if not budget_reset_at:
        return {}
    shard = crc32(f"{key['PK']}|{key['SK']}".encode()) % RESET_SHARDS
    return {"GSI4PK": reset_shard(shard), "GSI4SK": budget_reset_at}


INDEX_ATTRIBUTES = tuple(f"GSI{n}{part}" for n in range(1, 12) for part in ("PK", "SK"))


def of_ref(ref: Ref) -> Key:
    if isinstance(ref, TeamRef):
        return team(ref.team_id)
    if isinstance(ref, MemberRef):
        return member(ref.team_id, ref.user_id)
    if isinstance(ref, UserRef):
        return user(ref.user_id)
    return api_key(ref.token)


def spend_ref(item: Attributes) -> Ref | None:
    """The entity whose counter holds an item's spend: a key counts on its stable id
    (`key_id`, its first token; keys stored before regeneration existed have none and count
    on their token), which `/key/regenerate` does not change."""
    ref = ref_of(item)
    if isinstance(ref, KeyRef) and item.get("key_id"):
        return KeyRef(str(item["key_id"]))
    return ref


def ref_of(item: Attributes) -> Ref | None:
    """The entity an item read from the table is (None: not one of the four)."""
    entity = item.get("entity")
    if entity == "team":
        return TeamRef(item["team_id"])
    if entity == "member":
        return MemberRef(item["team_id"], item["user_id"])
    if entity == "user":
        return UserRef(item["user_id"])
    if entity == "key":
        return KeyRef(item["token"])
    return None


KEY_ATTRIBUTES = frozenset({"PK", "SK", *INDEX_ATTRIBUTES, "alias_lower", "email_lower",
                            "w"})


def without_keys(item: Attributes) -> Attributes:
    """An item as the domain sees it: its fields, none of the table's key attributes."""
    return {k: v for k, v in item.items() if k not in KEY_ATTRIBUTES}
