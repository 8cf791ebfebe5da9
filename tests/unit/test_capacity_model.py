"""The capacity model (bench/capacity_model.py): its arithmetic (sizes, index writes, reads
billed by the whole item, whose partition a value is, the bill), and the per-call path's targets
measured against moto (the layer's own requests, priced)."""

import os

import pytest

from bench.capacity_model import (
    ALL_TEAMS,
    OWN,
    PAIR,
    TRACK,
    TRACK_ID,
    Bill,
    CapacityRecorder,
    Index,
    index_writes,
    item_size,
    read_units,
    row,
    sharing,
    targets,
    team_rate,
    write_units,
)

ALL = Index("GSI1", "GSI1PK", "GSI1SK", "ALL")
KEYS_ONLY = Index("GSI2", "GSI2PK", "GSI2SK", "KEYS_ONLY")


def _item(**values) -> dict:
    return {k: ({"S": v} if isinstance(v, str) else {"N": str(v)}) for k, v in values.items()}


def test_sizes_follow_dynamodb_rules():
    # names and string values in UTF-8 bytes; numbers by their significant digits
    assert item_size(_item(PK="ab")) == 4
    assert item_size({"é": {"S": "é"}}) == 4
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"n": {"N": "0.0001"}}) == 1 + 2
    assert item_size({"m": {"M": {"a": {"BOOL": True}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size(None) == 0


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1024, 1), (1025, 2), (40_000, 40)])
def test_a_write_costs_each_started_kilobyte(size, units):
    assert write_units(size) == units


def test_a_read_costs_each_started_4_kb_half_when_eventually_consistent():
    assert read_units(4096, True) == 1 and read_units(4097, True) == 2
    assert read_units(4097, False) == 1


def test_an_index_write_follows_its_key_and_projection():
    old = _item(PK="T#1", SK="T", GSI1PK="TEAMS", GSI1SK="a#1", GSI2PK="X", GSI2SK="1", n=1)
    changed = dict(old, n={"N": "2"})
    moved = dict(old, GSI1SK={"S": "b#1"})
    # An ALL index takes a write for any change; a KEYS_ONLY one only when its key changes
    assert index_writes(ALL, old, changed) == [("TEAMS", 1)]
    assert index_writes(KEYS_ONLY, old, changed) == []
    # A changed key is a delete and a put; leaving or entering the index is one write
    assert index_writes(ALL, old, moved) == [("TEAMS", 1), ("TEAMS", 1)]
    assert index_writes(ALL, old, None) == [("TEAMS", 1)]
    assert index_writes(ALL, None, _item(PK="x", SK="y")) == []


def test_a_row_names_the_hottest_partition_and_the_ones_every_team_writes():
    # Given the same call for two teams: each writes its own partition and one they share
    first, second = Bill(), Bill()
    first.write("table", "TEAM#a", 6)
    first.write("GSI5", "TEAMS", 2)
    second.write("table", "TEAM#b", 6)
    second.write("GSI5", "TEAMS", 2)
    line = row("call", first, second, {"a": "<team>"})
    assert (line["wcu"], line["hottest"], line["hottest_shared"]) == (8, "table:TEAM#<team>", OWN)
    assert line["calls_per_s"] == pytest.approx(1000 / 6)
    assert (line["busiest_shared"], line["all_teams_calls_per_s"]) == ("GSI5:TEAMS", 500)
    assert line["dollars_per_million"] == pytest.approx(8 * 1.25)


def test_whose_partition_a_value_is():
    token = "ab" * 32
    # The call's own ids (as placeholders) and per-call ids (hex) are its own
    assert sharing("table", "TEAMSPEND#<team>") == OWN
    assert sharing("table", f"SPENDREQ#{token}".replace(token, "<id>")) == OWN
    # A fixed shard chosen by the team: the share of teams whose calls can land in it
    assert sharing("GSI4", "LEASE#7") == "4/64 of teams"
    assert sharing("GSI6", "TEAMSBYSPEND#1") == "1/4 of teams"
    # A value without the call's ids is every team's, and so is one the other team touched
    assert sharing("GSI8", "AUDITLOG") == ALL_TEAMS
    assert sharing("table", "KEY#<key>", {("table", "KEY#x")}, "KEY#x") == ALL_TEAMS


class _Raw:
    """The bench's own client, reading the items as stored."""

    def __init__(self, items):
        self.items, self.queries = items, []

    def get_item(self, TableName, Key, ConsistentRead):  # noqa: N803 (botocore's names)
        item = self.items.get(Key["PK"]["S"])
        return {"Item": item} if item else {}

    def query(self, **request):
        self.queries.append(request)
        return {"Items": list(self.items.values())}


def _model(name):
    return type("Model", (), {"name": name})()


def test_a_projected_read_is_billed_by_the_whole_item():
    big = {"PK": {"S": "TEAM#a"}, "SK": {"S": "TEAM"}, "roster": {"S": "x" * 55_000}}
    recorder = CapacityRecorder(_Raw({"TEAM#a": big}), [])
    recorder.start()
    params = {"TableName": "t", "Key": {"PK": {"S": "TEAM#a"}, "SK": {"S": "TEAM"}},
              "ConsistentRead": True, "ProjectionExpression": "#a0"}
    recorder._before(params, _model("GetItem"))
    recorder._after({"Item": {"status": {"S": "active"}}}, _model("GetItem"))  # as returned
    assert recorder.stop().rcu == {("table", "TEAM#a"): 14}  # 55 KB in 4 KB units


def test_a_filtered_query_is_billed_by_the_items_it_evaluates():
    items = {f"T{n}": {"PK": {"S": f"T{n}"}, "x": {"S": "y" * 3000}} for n in range(4)}
    raw = _Raw(items)
    recorder = CapacityRecorder(raw, [])
    recorder.start()
    params = {"TableName": "t", "IndexName": "GSI3", "KeyConditionExpression": "#pk = :pk",
              "FilterExpression": "#o = :o",
              "ExpressionAttributeNames": {"#pk": "GSI3PK", "#o": "org"},
              "ExpressionAttributeValues": {":pk": {"S": "TEAMS"}, ":o": {"S": "z"}}, "Limit": 4}
    recorder._before(params, _model("Query"))
    recorder._after({"Items": []}, _model("Query"))  # nothing passed the filter
    assert recorder.stop().rcu == {("GSI3", "TEAMS"): 3 / 2}  # 12 KB read, eventually
    sent, = raw.queries
    assert "FilterExpression" not in sent and sent["Limit"] == 4
    assert (sent["ExpressionAttributeNames"], list(sent["ExpressionAttributeValues"])) == (
        {"#pk": "GSI3PK"}, [":pk"])


def test_a_refused_write_is_billed_and_counted_as_refused():
    counter = {"PK": {"S": "KEY#k"}, "SK": {"S": "SPEND"}, "n": {"N": "1"}}
    recorder = CapacityRecorder(_Raw({"KEY#k": counter}), [])
    recorder.start()
    params = {"TableName": "t", "Key": {"PK": {"S": "KEY#k"}, "SK": {"S": "SPEND"}}}
    recorder._before(params, _model("UpdateItem"))
    recorder._after({"Error": {"Code": "ConditionalCheckFailedException"}},
                    _model("UpdateItem"))
    bill = recorder.stop()
    assert (bill.total_wcu, bill.refused_wcu) == (1, 1)


def _pair_row(members, partitions):
    bill = Bill()
    for where, value, units in partitions:
        bill.write(where, value, units)
    return row(PAIR, bill, Bill(), {"t": "<team>", "k": "<key>"}, members=members)


def test_the_targets_follow_the_partitions_of_a_pair():
    good = [("table", "TEAMSPEND#t", 2), ("table", "KEY#k", 2), ("GSI4", "LEASE#3", 2)]
    rows = [_pair_row(2, good), _pair_row(500, good)]
    checks = {t.name: t.passed for t in targets(rows) if t.name.startswith(PAIR)}
    assert all(checks.values()), checks
    assert team_rate(rows[0])[:2] == (400, "table:TEAMSPEND#<team>")
    # Three units on the team's counter: a partition over 2 WCU, a team under 400 pairs/s
    hot = [_pair_row(2, good), _pair_row(500, [*good, ("table", "TEAMSPEND#t", 1)])]
    failed = {t.name for t in targets(hot) if not t.passed}
    assert f"{PAIR} ≤ 2 WCU on any one partition key" in failed
    assert any(name.startswith("one team") for name in failed)
    assert any("same WCU figures" in name for name in failed)
    # A partition every team writes
    shared = [_pair_row(n, [*good, ("GSI8", "AUDITLOG", 1)]) for n in (2, 500)]
    assert f"{PAIR}: no partition shared by all teams (written or read)" in {
        t.name for t in targets(shared) if not t.passed}


# --- the per-call path's targets, measured against moto (bench/local_dynamo.py) ---------------

@pytest.fixture(scope="module")
def measured():
    """Section 6's per-call rows (no admin calls, no stream consumer, one team per size) for a
    2-member and a 500-member team, against a moto of their own as `make bench` runs it (a
    process of its own: a threaded moto in this process takes three times as long). The
    environment and the layer's caches are put back after."""
    from bench import capacity
    from bench.handlers import Handlers
    from bench.local_dynamo import LocalDynamo, _forget_layer_caches

    environment = dict(os.environ)
    dynamo = LocalDynamo()
    try:
        dynamo.start()
        yield capacity.run(Handlers(), dynamo.master_key, admin=False, consumer=False, teams=1)
    finally:
        dynamo.stop()
        os.environ.clear()
        os.environ.update(environment)
        _forget_layer_caches()


def _target(measured, name):
    found = {t.name: t for t in targets(measured)}
    assert name in found, sorted(found)
    return found[name]


@pytest.mark.parametrize(("call", "limit"), [(PAIR, 16), (TRACK, 8), (TRACK_ID, 8)])
def test_a_call_costs_at_most_its_wcu_refused_writes_and_indexes_included(measured, call, limit):
    target = _target(measured, f"{call} ≤ {limit} WCU (refused writes and indexes included)")
    assert target.passed, target.detail


@pytest.mark.parametrize("call", [PAIR, TRACK, TRACK_ID])
def test_a_call_writes_at_most_2_wcu_to_any_one_partition_key(measured, call):
    target = _target(measured, f"{call} ≤ 2 WCU on any one partition key")
    assert target.passed, target.detail


@pytest.mark.parametrize("call", [PAIR, TRACK, TRACK_ID])
def test_no_partition_is_shared_by_all_teams(measured, call):
    target = _target(measured, f"{call}: no partition shared by all teams (written or read)")
    assert target.passed, target.detail


@pytest.mark.parametrize("call", [PAIR, TRACK, TRACK_ID])
def test_a_500_member_team_writes_as_a_2_member_team(measured, call):
    target = _target(measured, f"{call}: same WCU figures for 2 / 500 members "
                               "(in all and per partition)")
    assert target.passed, target.detail


# Reads too: the team's gate (TeamStore.gate, a GetItem of the team item) is billed by the
# whole item, so the roster must stay off it (55 KB with 500 members: 14 RCU instead of 1).


@pytest.mark.parametrize("call", [PAIR, TRACK, TRACK_ID])
def test_a_500_member_team_reads_as_a_2_member_team(measured, call):
    target = _target(measured, f"{call}: same RCU figures for 2 / 500 members")
    assert target.passed, target.detail


def test_one_team_sustains_400_pairs_per_second_at_80_percent_of_a_partition(measured):
    target = _target(measured, "one team ≥ 400 pairs/s at ≤ 80% of a partition's 1,000 WCU/s")
    assert target.passed, target.detail


def test_one_team_sustains_400_pairs_per_second_by_reads_too(measured):
    target = _target(measured, "(reads) one team ≥ 400 pairs/s at ≤ 80% of a partition's "
                               "3,000 RCU/s")
    assert target.passed, target.detail


def test_the_first_reservation_of_a_key_is_shown_apart(measured):
    first = [r for r in measured if r["kind"] == "first"]
    assert {r["members"] for r in first} == {2, 500}
    assert all(r["wcu"] > r2["wcu"] for r in first for r2 in measured if r2["call"] == PAIR
               and r2["members"] == r["members"] and "4 counters" in r["call"])
