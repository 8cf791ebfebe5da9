"""The capacity model's arithmetic (bench/capacity_model.py): sizes, index writes, the bill."""

import pytest

from bench.capacity_model import Bill, Index, index_writes, item_size, read_units, row, write_units

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
    line = row("call", first, second)
    assert (line["wcu"], line["hottest"], line["hottest_shared"]) == (8, "table:TEAM#a", False)
    assert line["calls_per_s"] == pytest.approx(1000 / 6)
    assert (line["busiest_shared"], line["all_teams_calls_per_s"]) == ("GSI5:TEAMS", 500)
    assert line["dollars_per_million"] == pytest.approx(8 * 0.625)
