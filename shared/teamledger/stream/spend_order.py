"""The spend-order consumer: the spend order of /v2/team/list, kept off the call path.

The table's stream hands over the changes of team counters (the event-source mapping filters
them, template.yaml). A batch keeps each team's newest image and writes that team's place once
(TeamOrderStore.place_spend): one write per team per batch however many calls it had, so the
order lags the counters by about one batching window. A stream shard's records come in order,
so a later batch never places a team from an older image.
"""

from typing import Any

from teamledger.store import stores
from teamledger.store.marshal import from_item

Record = dict[str, Any]


def newest_spend(records: list[Record]) -> dict[str, int]:
    """Each team's spend (units) in its last record of the batch."""
    spend: dict[str, int] = {}
    for record in records:
        image = (record.get("dynamodb") or {}).get("NewImage")
        if not image:
            continue  # a counter deleted with its team: its place goes with the team
        item = from_item(image)
        if item.get("entity") == "counter" and item.get("scope") == "team":
            spend[str(item["team_id"])] = int(item.get("spend", 0))
    return spend


def place(records: list[Record]) -> int:
    """Place every team of the batch; returns how many places were written."""
    return sum(stores().orders.place_spend(team_id, units)
               for team_id, units in newest_spend(records).items())
