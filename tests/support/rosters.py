"""A team's roster as DynamoDB stores it, for the tests of its bound (tests/integration's
test_roster_bound.py against moto in process, tests/e2e's test_roster_race.py against
`make dev`'s moto server)."""

from typing import Any

ROSTER_LIMIT = 500  # entries, as the layer's domain/members.py bounds it
DYNAMODB_ITEM_LIMIT = 400 * 1024


def roster_item(client: Any, table_name: str, team_id: str) -> dict:
    """The stored item that holds the team's roster: its own item, or the team item before it
    had one."""
    for sk in ("ROSTER", "TEAM"):
        item = client.get_item(TableName=table_name, ConsistentRead=True,
                               Key={"PK": {"S": f"TEAM#{team_id}"}, "SK": {"S": sk}}).get("Item")
        if item and "roster" in item:
            return item
    raise AssertionError(f"team {team_id} has no roster")
