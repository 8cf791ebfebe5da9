"""Section 6 of `make bench`: the capacity model of the calls a gateway and an admin make, on a
2-member and a 500-member team (see capacity_model.py for how a call is priced).

Each call is measured for two teams of the same size (the second says which partitions every
team's calls share) in the steady state: the team's first reservation, which makes its key's,
user's, membership's and team's counters (CounterStore._create), is measured first and shown
apart, and so is a further key's first. The spend order that a settle moves is written off the
call path by the stream consumer; its batch is measured as a row of its own.
"""

import uuid
from typing import Any

from bench.capacity_model import PAIR, TRACK, TRACK_ID, Bill, CapacityRecorder, indexes, row
from bench.handlers import Handlers

SIZES = (2, 500)
BULK = 250  # members per /team/bulk_member_add while setting up (not measured)
AMOUNT = 0.05  # USD held by a reservation
SPEND = 0.02  # USD settled or tracked
CONSUMER = "spend order: stream consumer's batch (per team)"
FIRST = "first reservation+settle of a key (its 4 counters made)"
FIRST_FURTHER = "first reservation+settle of a further key of the same user"
GATEWAY_PAIR = "reserve+settle pair, gateway key"
TRACK_RETRY = "spend/track sent again with the same request_id"
GATEWAY_ROUTES = ["/spend/reserve", "/spend/settle", "/spend/release"]
GATEWAY = "[gateway key]"  # the gateway's key: every team's calls carry it (no placeholder)


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
    return {"team_id": team_id, "token": key["token"], "user_id": users[0]}


def _names(team: dict[str, Any], gateway: dict[str, Any]) -> dict[str, str]:
    """The team's own ids as placeholders (its users' and new members' ids hold its id)."""
    return {team["team_id"]: "<team>", team["token"]: "<key>", team["user_id"]: "<user>",
            gateway["token"]: GATEWAY} | (
        {team["further_token"]: "<key2>"} if "further_token" in team else {}) | (
        {team["email_user_id"]: "<new user>"} if "email_user_id" in team else {})


def _pair(handlers: Handlers, caller_key: str, token: str) -> None:
    reservation = handlers.call("POST", "/spend/reserve", key=caller_key,
                                body={"token": token, "amount": AMOUNT})
    handlers.call("POST", "/spend/settle", key=caller_key,
                  body={"reservation_id": reservation["reservation_id"], "spend": SPEND})


def _track(request_id: bool):
    def call(handlers: Handlers, master_key: str, team: dict[str, Any]) -> None:
        body = {"token": team["token"], "spend": SPEND}
        if request_id:
            body["request_id"] = uuid.uuid4().hex[:12]  # a first report (a retry: see notes)
        handlers.call("POST", "/spend/track", key=master_key, body=body)
    return call


def _admin(method: str, path: str, body=None, query=None):
    def call(handlers: Handlers, master_key: str, team: dict[str, Any]) -> None:
        handlers.call(method, path, key=master_key, body=body(team) if body else None,
                      query=query(team) if query else None)
    return call


def _add_by_email(handlers: Handlers, master_key: str, team: dict[str, Any]) -> None:
    """A new user by email; its id (a new uuid) is kept to be named `<new user>`."""
    added = handlers.call("POST", "/team/member_add", key=master_key, body={
        "team_id": team["team_id"],
        "member": {"user_email": f"{team['team_id']}-new-{uuid.uuid4().hex[:6]}@example.com"}})
    team["email_user_id"] = added["updated_users"][0]["user_id"]


PER_CALL = {
    TRACK: _track(False),
    TRACK_ID: _track(True),
}
ADMIN = {
    "member_add": _admin("POST", "/team/member_add", body=lambda t: {
        "team_id": t["team_id"],
        "member": {"user_id": f"{t['team_id']}-new-{uuid.uuid4().hex[:6]}"}}),
    # a new user by email: the email looked up, and its email's item written (one user each)
    "member_add by email": _add_by_email,
    "team/update": _admin("POST", "/team/update", body=lambda t: {
        "team_id": t["team_id"], "team_alias": f"renamed {uuid.uuid4().hex[:6]}"}),
    "team/info": _admin("GET", "/team/info", query=lambda t: {"team_id": t["team_id"]}),
    "v2/team/list page": _admin("GET", "/v2/team/list", query=lambda t: {"page_size": "10"}),
}


def _feed() -> Any:
    """The spend-order consumer fed as its mapping feeds it, from the stream's end now."""
    from teamledger.store.client import table_name

    from tests.support.streams import SpendOrderFeed

    return SpendOrderFeed(table_name())


class _Measure:
    def __init__(self, recorder: CapacityRecorder, handlers: Handlers, master_key: str):
        self.recorder, self.handlers, self.master_key = recorder, handlers, master_key

    def __call__(self, action) -> Bill:
        self.recorder.start()
        try:
            action()
        finally:
            bill = self.recorder.stop()
        return bill


def _measure_team(measure: _Measure, team: dict[str, Any], gateway: dict[str, Any],
                  admin: bool, consumer: bool) -> dict[str, Bill]:
    handlers, master_key = measure.handlers, measure.master_key
    bills = {FIRST: measure(lambda: _pair(handlers, master_key, team["token"]))}
    further = handlers.call("POST", "/key/generate", key=master_key, body={
        "user_id": team["user_id"], "team_id": team["team_id"]})
    team["further_token"] = further["token"]
    bills[FIRST_FURTHER] = measure(lambda: _pair(handlers, master_key, further["token"]))
    _pair(handlers, master_key, team["token"])  # once more, unmeasured: the steady state
    feed = _feed() if consumer else None  # the table's stream from here on
    bills[PAIR] = measure(lambda: _pair(handlers, master_key, team["token"]))
    if feed is not None:
        bills[CONSUMER] = measure(feed.deliver)
    bills[GATEWAY_PAIR] = measure(lambda: _pair(handlers, gateway["key"], team["token"]))
    for label, call in (PER_CALL | (ADMIN if admin else {})).items():
        bills[label] = measure(lambda call=call: call(handlers, master_key, team))
    again = {"token": team["token"], "spend": SPEND, "request_id": uuid.uuid4().hex[:12]}
    handlers.call("POST", "/spend/track", key=master_key, body=again)
    bills[TRACK_RETRY] = measure(lambda: handlers.call("POST", "/spend/track", key=master_key,
                                                       body=again))
    return bills


def run(handlers: Handlers, master_key: str, sizes: tuple[int, ...] = SIZES,
        admin: bool = True, consumer: bool = True, teams: int = 2) -> list[dict[str, Any]]:
    """The rows of section 6: the per-call path (and, with `admin`, the admin calls) on teams
    of each size; with `consumer`, the spend-order consumer's batch after a pair. With one team
    per size, whose partitions are is read from their values alone (no second team to
    confirm it)."""
    import boto3
    from teamledger.store.client import client

    from tests.support.template import load_template

    recorder = CapacityRecorder(boto3.client("dynamodb"), indexes(load_template()))
    recorder.attach(client())
    measure = _Measure(recorder, handlers, master_key)
    gateway = handlers.call("POST", "/key/generate", key=master_key,
                            body={"allowed_routes": GATEWAY_ROUTES})
    rows: list[dict[str, Any]] = []
    try:
        for size in sizes:
            made = [_team(handlers, master_key, size) for _ in range(teams)]
            bills = [_measure_team(measure, team, gateway, admin, consumer) for team in made]
            for label in bills[0]:
                kind = {FIRST: "first", FIRST_FURTHER: "first", TRACK_RETRY: "retry",
                        CONSUMER: "consumer"}.get(label, "call")
                other = bills[1][label] if len(bills) > 1 else None
                rows.append(row(label, bills[0][label], other, _names(made[0], gateway),
                                members=size, kind=kind))
    finally:
        recorder.detach(client())
    order = [PAIR, GATEWAY_PAIR, TRACK, TRACK_ID, *ADMIN, CONSUMER, FIRST, FIRST_FURTHER,
             TRACK_RETRY]
    return sorted(rows, key=lambda r: (order.index(r["call"]), r["members"]))


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
         "transaction, refused writes too, + each GSI holding the item; RCU 4 KB of the whole "
         "item), master key, teams of "
         f"{' and '.join(map(str, SIZES))} members; targets of the per-call path below")

if __name__ == "__main__":  # the section alone: PYTHONPATH=shared:. python -m bench.capacity
    from bench import costs
    from bench.capacity_model import report
    from bench.tables import section

    section(TITLE)
    rows = measure()
    print(report(rows))
    print(costs.report(costs.measure(rows)))
