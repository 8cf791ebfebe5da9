"""`make load` in small: a few seconds of the mixed workload against a fresh dev server, then
the full consistency check, which must find nothing lost (and does find what is)."""

import copy
from decimal import Decimal

import pytest

from tests.support import load
from tests.support.devhttp import call


@pytest.fixture(scope="module")
def load_result(dev_server):
    """Given 4 clients that ran the workload for 5 seconds against this module's own server."""
    return load.run(dev_server.url, dev_server.master_key, clients=4, seconds=5)


def test_a_short_load_has_no_errors_and_no_lost_updates(load_result):
    report = load_result.report()

    assert load_result.errors == 0, report
    assert load_result.lost_updates == 0, report
    assert sum(len(v) for v in load_result.timings.latencies.values()) > 0, report
    assert load_result.ledger.spend and load_result.ledger.members, report
    # and the gateway's per-call path ran, every budget team's spend and holds read back
    calls = load_result.ledger.calls
    assert calls["reserve"] > 0 and calls["settle"] + calls["release"] > 0, report
    assert load.RESERVE in load_result.timings.latencies, report
    assert len(load_result.verifier.settle_differences) == len(load.BUDGET_TEAMS), report
    assert load_result.verifier.scopes_checked == \
        4 * len(load.BUDGET_TEAMS) * load.KEYS_PER_BUDGET_TEAM, report
    assert "per-call path:" in report


def test_the_check_finds_a_lost_member_an_extra_member_and_lost_spend(load_result, dev_server):
    # Given a ledger that claims one member too many, forgets one, and claims one cent more
    ledger = copy.deepcopy(load_result.ledger)
    token = next(token for token, amount in ledger.spend.items() if amount)
    user_id, team_id = ledger.keys[token]
    forgotten = next(iter(ledger.members[team_id] - {load.DEFAULT_USER, user_id}))
    ledger.members[team_id] |= {"never-added"}
    ledger.members[team_id] -= {forgotten}
    ledger.spend[token] += Decimal("0.01")
    verifier = load.Verifier(dev_server.url, dev_server.master_key, ledger)

    # When that team and key are checked
    verifier.check_team(team_id)
    verifier.check_key(token)

    # Then each difference is one lost update
    assert {kind for kind, _ in verifier.lost} == {"member", "extra member", "spend"}
    assert (("member", f"/team/info of {team_id}/never-added") in verifier.lost)
    assert (("extra member", f"/team/info of {team_id}/{forgotten}") in verifier.lost)
    assert {subject for kind, subject in verifier.lost if kind == "spend"} == {
        f"team {team_id}", f"membership {team_id}:{user_id}", f"key {token}"}


def test_the_check_finds_settled_spend_off_by_1e_9_and_a_reservation_left_held(load_result,
                                                                                 dev_server):
    # Given a ledger that claims 1e-9 USD more settled in a budget team than was
    ledger = copy.deepcopy(load_result.ledger)
    team_id, tokens = list(ledger.budget_teams.items())[2]  # its team budget does not run out
    ledger.settled[team_id] += Decimal("1e-9")
    verifier = load.Verifier(dev_server.url, dev_server.master_key, ledger)
    # and a reservation in it that nobody settles
    status, held = call(dev_server, "POST", "/spend/reserve", {"token": tokens[-1],
                                                               "amount": 0.01})
    assert status == 200, held
    try:
        # When that team and key are checked
        verifier.check_budget_team(team_id)
        verifier.check_held(team_id, tokens[-1])
    finally:
        call(dev_server, "POST", "/spend/release", {"reservation_id": held["reservation_id"]})

    # Then the spend is found off where it is read (twice), and the hold in each of the
    # key's scopes
    assert set(verifier.lost) == {
        ("settled spend", f"/team/info of {team_id}"),
        ("settled spend", f"/spend/reserve of {team_id}"),
        *(("reserved", f"{scope} of {tokens[-1]}")
          for scope in ("key", "user", "team_membership", "team"))}
