"""The spend-order consumer: team counters' changes on the table's stream -> the spend order of
/v2/team/list (one write per team per batch)."""

from typing import Any

from teamledger.stream.entry import lambda_entry
from teamledger.stream.spend_order import place


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A failure fails the batch: Lambda retries it whole, and placing a team again is harmless.
    return {"placed": place(event.get("Records") or [])}
