"""The scheduled budget reset against a table of its own: teams, membership budgets, keys and
users whose reset time has passed get spend 0 and the next boundary of their grid, once per
boundary however many runs race, each reset audited; nothing else is touched."""

import threading
from datetime import timedelta

import pytest
from teamledger import money
from teamledger.domain import budget_reset
from teamledger.store import keys as table_keys
from teamledger.store import table
from teamledger.store.client import client, table_name
from teamledger.store.marshal import to_item
from teamledger.timestamps import from_iso, to_iso


def _spend(api, token: str, amount: float) -> dict:
    return api.ok(api.post("/spend/track", {"token": token, "spend": amount}))


def _audit(api, object_id: str) -> list[dict]:
    return [r for r in api.ok(api.get("/audit", query={"object_id": object_id}))["data"]
            if r["changed_by"] == budget_reset.JOB]


@pytest.fixture
def budgets(api, fresh_table):
    """A user, team, membership and key, each with a 1-day budget and spend 2.5."""
    user = api.new_user(budget_duration="1d", max_budget=10)
    team = api.new_team(budget_duration="1d", max_budget=10,
                        members_with_roles=[{"user_id": user["user_id"]}])
    api.ok(api.post("/team/member_update", {"team_id": team["team_id"],
                                            "user_id": user["user_id"],
                                            "max_budget_in_team": 5, "budget_duration": "1d"}))
    key = api.new_key(user_id=user["user_id"], team_id=team["team_id"], budget_duration="1d")
    _spend(api, key["token"], 2.5)
    return {"user": user, "team": team, "key": key}


def _items(budgets) -> dict[str, dict]:
    team_id, user_id = budgets["team"]["team_id"], budgets["user"]["user_id"]
    keys = {"team": table_keys.team(team_id), "user": table_keys.user(user_id),
            "member": table_keys.member(team_id, user_id),
            "key": table_keys.api_key(budgets["key"]["token"])}
    items = {name: table.get(key) for name, key in keys.items()}
    for item in items.values():  # spend lives on the entity's counter
        counter = table.get(table_keys.counter(table_keys.ref_of(item)))
        item["spend"] = money.usd(counter.get("spend") if counter else 0)
    return items


def test_every_kind_of_due_budget_is_reset_once_on_its_grid(api, budgets):
    before = _items(budgets)
    anchors = {name: from_iso(item["budget_anchor"]) for name, item in before.items()}
    # When the job runs two and a half days after the first reset time
    now = max(anchors.values()) + timedelta(days=2, hours=12)
    report = budget_reset.run(now=now)
    # Then all four were read once and reset, to the first boundary after now on their grid
    assert (report.reset, report.read, report.skipped) == (4, 4, 0)
    after = _items(budgets)
    for name, item in after.items():
        assert item["spend"] == 0
        expected = anchors[name] + timedelta(days=3)
        assert expected > now >= expected - timedelta(days=1)
        assert item["budget_reset_at"] == to_iso(expected) == item["GSI4SK"]
        assert item["budget_anchor"] == before[name]["budget_anchor"]  # the grid stays
    # And each reset is one audit record in the AuditLog shape
    team_records = _audit(api, budgets["team"]["team_id"])
    assert len(team_records) == 1
    record = team_records[0]
    assert (record["action"], record["changed_by_api_key"]) == ("updated", None)
    assert record["before_value"] == {"spend": 2.5,
                                      "budget_reset_at": before["team"]["budget_reset_at"]}
    assert record["updated_values"] == {"spend": 0,
                                        "budget_reset_at": after["team"]["budget_reset_at"]}
    membership = f"{budgets['team']['team_id']}:{budgets['user']['user_id']}"
    for object_id in (membership, budgets["key"]["token"], budgets["user"]["user_id"]):
        assert len(_audit(api, object_id)) == 1


def test_racing_runs_reset_each_boundary_once(api, budgets):
    now = from_iso(_items(budgets)["team"]["budget_reset_at"]) + timedelta(seconds=1)
    reports = []
    runs = [threading.Thread(target=lambda: reports.append(budget_reset.run(now=now)))
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    reports.append(budget_reset.run(now=now))
    assert sum(r.reset for r in reports) == 4
    assert all(len(_audit(api, o)) == 1 for o in (budgets["team"]["team_id"],
                                                   budgets["key"]["token"]))
    # A spend after the reset is kept by a later run in the same period
    _spend(api, budgets["key"]["token"], 1.25)
    assert budget_reset.run(now=now + timedelta(hours=1)).reset == 0
    assert _items(budgets)["key"]["spend"] == 1.25
    # And the next boundary resets again, once
    assert budget_reset.run(now=now + timedelta(days=1)).reset == 4
    assert len(_audit(api, budgets["key"]["token"])) == 2


def test_budgets_not_due_are_untouched(api, budgets):
    before = _items(budgets)
    now = min(from_iso(i["budget_reset_at"]) for i in before.values()) - timedelta(seconds=1)
    report = budget_reset.run(now=now)
    assert (report.read, report.reset) == (0, 0)
    assert _items(budgets) == before


def test_a_budget_without_duration_is_never_zeroed(api, fresh_table):
    user = api.new_user(max_budget=3)
    key = api.new_key(user_id=user["user_id"])
    _spend(api, key["token"], 1)
    report = budget_reset.run(now=from_iso("2099-01-01T00:00:00.000000Z"))
    assert report.reset == 0
    counter = table.get(table_keys.counter(table_keys.ref_of(
        table.get(table_keys.user(user["user_id"])))))
    assert money.usd(counter["spend"]) == 1


def _set_grid(key: dict, anchor: str) -> None:
    """Move a budget's grid (as if created then): anchor and reset time, index included."""
    expression, names, values = table.update_expression(
        {"budget_anchor": anchor, "budget_reset_at": anchor, "GSI4SK": anchor})
    client().update_item(TableName=table_name(), Key=to_item(key),
                            UpdateExpression=expression, ExpressionAttributeNames=names,
                            ExpressionAttributeValues=to_item(values))


@pytest.mark.parametrize(("duration", "anchor", "now", "expected"), [
    ("1mo", "2026-01-31T00:00:00.000000Z", "2026-02-28T00:00:00.000001Z",
     "2026-03-31T00:00:00.000000Z"),
    ("1mo", "2028-01-31T00:00:00.000000Z", "2028-01-31T00:00:01.000000Z",
     "2028-02-29T00:00:00.000000Z"),
    ("2mo", "2026-11-15T00:00:00.000000Z", "2026-11-15T12:00:00.000000Z",
     "2027-01-15T00:00:00.000000Z"),
    ("1w", "2026-11-01T00:00:00.000000Z", "2026-11-23T00:00:00.000000Z",
     "2026-11-29T00:00:00.000000Z"),  # three periods missed: the next future boundary
])
def test_month_ends_leap_years_and_missed_periods(api, fresh_table, duration, anchor, now,
                                                  expected):
    team = api.new_team(budget_duration=duration)
    _set_grid(table_keys.team(team["team_id"]), anchor)
    assert budget_reset.run(now=from_iso(now)).reset == 1
    assert table.get(table_keys.team(team["team_id"]))["budget_reset_at"] == expected


def test_a_run_near_its_time_limit_stops_and_the_next_finishes(api, budgets):
    now = from_iso(_items(budgets)["team"]["budget_reset_at"]) + timedelta(days=1)
    report = budget_reset.run(now=now, remaining_ms=lambda: budget_reset.MARGIN_MS - 1)
    assert (report.reset, report.stopped_early) == (0, True)
    assert budget_reset.run(now=now).reset == 4
