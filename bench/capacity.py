"""Section 6 of `make bench`: the capacity model of the calls a gateway and an admin make, on a
2-member and a 500-member team (see capacity_model.py for how a call is priced)."""

import uuid
from typing import Any

from bench.capacity_model import CapacityRecorder, indexes, row
from bench.handlers import Handlers

SIZES = (2, 500)
BULK = 250  # members per /team/bulk_member_add while setting up (not measured)


def _team(handlers: Handlers, master_key: str, members: int) -> dict[str, Any]:
    """A team of `members` (default_user_id and members - 1 users) and a key of its second."""
    team_id = f"cap-{uuid.uuid4().hex[:8]}"
    handlers.call("POST", "/team/new", key=master_key,
                  body={"team_id": team_id, "team_alias": f"capacity {team_id}",
                        "max_budget": 1000})
    users = [f"{team_id}-u{n:03d}" for n in range(members - 1)]
    for start in range(0, len(users), BULK):
        handlers.call("POST", "/team/bulk_member_add", key=master_key, body={
            "team_id": team_id, "members": [{"user_id": u, "user_email": f"{u}@example.com"}
                                            for u in users[start:start + BULK]]})
    key = handlers.call("POST", "/key/generate", key=master_key,
                        body={"user_id": users[0], "team_id": team_id, "max_budget": 100})
    return {"team_id": team_id, "token": key["token"]}


CALLS = {
    "spend/track": lambda t: ("POST", "/spend/track", {"token": t["token"], "spend": 0.01},
                              None),
    "member_add": lambda t: ("POST", "/team/member_add", {
        "team_id": t["team_id"], "member": {"user_id": f"new-{uuid.uuid4().hex[:8]}"}}, None),
    "team/update": lambda t: ("POST", "/team/update", {
        "team_id": t["team_id"], "team_alias": f"renamed {uuid.uuid4().hex[:6]}"}, None),
    "team/info": lambda t: ("GET", "/team/info", None, {"team_id": t["team_id"]}),
    "v2/team/list page": lambda t: ("GET", "/v2/team/list", None, {"page_size": "10"}),
}


def run(handlers: Handlers, master_key: str) -> list[dict[str, Any]]:
    import boto3
    from teamledger.store.client import client

    from tests.support.template import load_template

    recorder = CapacityRecorder(boto3.client("dynamodb"), indexes(load_template()))
    recorder.attach(client())
    rows = []
    for size in SIZES:
        teams = [_team(handlers, master_key, size) for _ in range(2)]
        for label, call in CALLS.items():
            bills = []
            for team in teams:
                method, path, body, query = call(team)
                recorder.start()
                handlers.call(method, path, key=master_key, body=body, query=query)
                bills.append(recorder.stop())
            rows.append(row(f"{label} ({size} members)", bills[0], bills[1]))
    return rows


def measure() -> list[dict[str, Any]]:
    """Section 6 against a moto of its own (the layer's settings are reset for it)."""
    from bench.local_dynamo import LocalDynamo

    dynamo = LocalDynamo()
    dynamo.start()
    try:
        return run(Handlers(), dynamo.master_key)
    finally:
        dynamo.stop()


TITLE = ("6. Capacity model: what one call costs as DynamoDB bills it (WCU 1 KB, twice in a "
         "transaction, + each GSI holding the item; RCU 4 KB), master key, teams of "
         f"{' and '.join(map(str, SIZES))} members")

if __name__ == "__main__":  # the section alone: PYTHONPATH=shared:. python -m bench.capacity
    from bench.capacity_model import report
    from bench.tables import section

    section(TITLE)
    print(report(measure()))
