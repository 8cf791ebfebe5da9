"""One email, one user, however many requests race for it: real HTTP against `make dev`'s
server with its handlers in four worker processes (issue 13, defects 3 and 4).

- Many concurrent `member_add`s of one new email, each to a team of its own: exactly one user
  is made; every add answers 200 with that user (or a clear 503 to retry), and later adds by
  that email (in any case) add that user.
- Concurrent `/user/new`s and `member_add`s naming one new email under different user ids:
  exactly one of them gets the email; the others are 400 naming it, and nothing of them is
  written.

Who was made is read over HTTP: the user records of `GET /audit` (one `created` record per
user, with its email) and the teams' rosters. That the requests raced for real is seen in
`x-dev-worker`, the pid of the worker process that ran each handler."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.devhttp import call, send
from tests.support.devprocess import dev_server_process

WORKERS = 4
RACERS = 24  # concurrent requests for one email, from as many HTTP clients


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Given a dev server whose four workers are up and warm for the routes that race (the
    pool starts workers as concurrent requests need them: a cold one would stagger a race)."""
    with dev_server_process(tmp_path_factory.mktemp("email-races"), workers=WORKERS) as dev:
        assert f"up to {WORKERS} handler processes" in dev.log(), dev.log()
        team_id = _teams(dev, 1)[0]
        for _ in range(2):
            replies = _race(dev, [("/user/new", {}) for _ in range(2 * WORKERS)] + [
                ("/team/member_add", {"team_id": team_id, "member": {
                    "user_id": f"warm-{uuid.uuid4().hex[:8]}"}}) for _ in range(2 * WORKERS)])
            assert all(status == 200 for status, _, _ in replies), replies
        yield dev


def _ok(reply: tuple[int, dict]) -> dict:
    status, answer = reply
    assert status == 200, answer
    return answer


def _teams(server, count: int) -> list[str]:
    return [_ok(call(server, "POST", "/team/new", {}))["team_id"] for _ in range(count)]


def _users_created_with(server, email: str) -> list[str]:
    """The ids of every user whose `created` record holds this email (any case)."""
    found, cursor = [], None
    while True:
        query = "table_name=LiteLLM_UserTable&action=created&limit=100" + (
            f"&cursor={cursor}" if cursor else "")
        page = _ok(call(server, "GET", f"/audit?{query}"))
        found += [r["object_id"] for r in page["data"]
                  if (r["updated_values"].get("user_email") or "").lower() == email.lower()]
        cursor = page["next_cursor"]
        if not cursor:
            return found


def _roster(server, team_id: str) -> dict[str, str | None]:
    info = _ok(call(server, "GET", f"/team/info?team_id={team_id}"))
    return {m["user_id"]: m["user_email"] for m in info["team_info"]["members_with_roles"]}


def _race(server, requests: list[tuple[str, dict]]) -> list[tuple[int, dict, dict]]:
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda r: send(server, "POST", r[0], r[1]), requests))


def _raced(replies: list[tuple[int, dict, dict]]) -> None:
    workers = {int(headers["x-dev-worker"]) for _, _, headers in replies}
    assert len(workers) >= 2, workers


def test_concurrent_adds_of_one_new_email_to_many_teams_make_one_user(server):
    # Given many teams and an email nobody has
    teams = _teams(server, RACERS)
    email = f"racer-{uuid.uuid4().hex[:8]}@example.com"
    # When it is added to every team at once, one request each
    replies = _race(server, [("/team/member_add", {"team_id": t, "member": {"user_email": email}})
                             for t in teams])
    _raced(replies)
    # Then each add succeeded or asks for a retry, and every success added the same user
    assert all(status in (200, 503) for status, _, _ in replies), replies
    added = {a["updated_users"][0]["user_id"] for status, a, _ in replies if status == 200}
    assert len(added) == 1, added
    # And exactly one user was made with that email
    users = _users_created_with(server, email)
    assert users == list(added), users
    user_id = users[0]
    for (status, _, _), team_id in zip(replies, teams, strict=True):
        roster = _roster(server, team_id)
        assert roster.get(user_id) == email if status == 200 else user_id not in roster
    # And later adds by that email, in any case, add that user
    for later, spelled in zip(_teams(server, 2), (email, email.upper()), strict=True):
        again = _ok(call(server, "POST", "/team/member_add",
                         {"team_id": later, "member": {"user_email": spelled}}))
        assert [u["user_id"] for u in again["updated_users"]] == [user_id]
    info = _ok(call(server, "GET", f"/user/info?user_id={user_id}"))
    assert info["user_info"]["user_email"] == email
    assert len(info["teams"]) == sum(s == 200 for s, _, _ in replies) + 2


def test_one_new_email_claimed_under_many_user_ids_at_once_goes_to_one(server):
    # Given teams and an email nobody has, and requests that each claim it for a new user id:
    # half /user/new, half member_add with a user id and that email
    teams = _teams(server, RACERS // 2)
    email = f"claim-{uuid.uuid4().hex[:8]}@example.com"
    ids = [f"claimer-{n}-{uuid.uuid4().hex[:6]}" for n in range(RACERS)]
    requests = [("/user/new", {"user_id": u, "user_email": email}) for u in ids[:RACERS // 2]]
    requests += [("/team/member_add", {"team_id": t, "member": {"user_id": u,
                                                                "user_email": email}})
                 for t, u in zip(teams, ids[RACERS // 2:], strict=True)]
    # When they all run at once
    replies = _race(server, requests)
    _raced(replies)
    # Then exactly one user has the email; everyone else is 400 naming it (or a 503 to retry)
    winners = [u for u, (status, _, _) in zip(ids, replies, strict=True) if status == 200]
    assert len(winners) == 1, replies
    assert _users_created_with(server, email) == winners
    for (status, answer, _) in replies:
        assert status in (200, 400, 503), answer
        if status == 400:
            assert email in answer["detail"]["error"]
            assert "belongs to another user" in answer["detail"]["error"]
    # And none of the losers exists or joined a team
    for user_id in ids:
        status, _ = call(server, "GET", f"/user/info?user_id={user_id}")
        assert status == (200 if user_id in winners else 404)
    for team_id, user_id in zip(teams, ids[RACERS // 2:], strict=True):
        assert (user_id in _roster(server, team_id)) == (user_id in winners)
