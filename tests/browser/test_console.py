"""The admin console in headless Chromium against `make dev`: each thing a person does in the
browser, found by role and accessible name, then checked against the API (it happened, once).

The tests of this module share one browser and one server, and run in order: sign in first.
"""

import re
import uuid

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from tests.support.browser import (
    all_by_role,
    by_role,
    screenshot,
    table_rows,
    wait_until,
)
from tests.support.devhttp import call

RUN = uuid.uuid4().hex[:8]  # this run's teams, among whatever else the server holds
WRITE_CONTROLS = ("New team", "Block team", "Unblock team", "Edit", "Add member", "New key",
                  "Delete", "Remove", "Change role")


def api(server, method, path, body=None, key=None):
    status, answer = call(server, method, path, body, key=key)
    assert status == 200, (method, path, status, answer)
    return answer


def audit(server, **query):
    from urllib.parse import urlencode

    return api(server, "GET", "/audit?" + urlencode(query))["data"]


def open_page(driver, server, hash_route):
    driver.get(f"{server.url}/ui#{hash_route}")


def sign_in(driver, server, key):
    driver.get(f"{server.url}/ui")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{server.url}/ui#/teams")
    by_role(driver, "textbox", "API key").send_keys(key)
    by_role(driver, "button", "Sign in").click()
    by_role(driver, "heading", "Teams")


def team_page(driver, server, team_id, alias):
    open_page(driver, server, f"/teams/{team_id}")
    by_role(driver, "heading", f"Team {alias}")
    return by_role(driver, "table", "Members")


@pytest.fixture(scope="module")
def team(dev_server):
    """A team made in the browser by test_team_create (its id), for the tests after it."""
    return {}


def test_a_wrong_key_is_refused_in_words(driver, dev_server):
    # Given the console's sign-in page
    driver.get(f"{dev_server.url}/ui")
    screenshot(driver, "sign-in")
    # When a key that is no key is entered
    by_role(driver, "textbox", "API key").send_keys("sk-not-a-key")
    by_role(driver, "button", "Sign in").click()
    # Then the page says so, and nothing is kept
    wait_until(driver, lambda: "not valid" in by_role(driver, "alert").text, "the refusal")
    assert driver.execute_script("return sessionStorage.length") == 0


def test_sign_in_keeps_the_key_in_session_storage_only(driver, dev_server):
    # When the master key signs in
    sign_in(driver, dev_server, dev_server.master_key)
    # Then the teams page shows, the key is in sessionStorage, and nowhere on the page or URL
    assert driver.execute_script("return sessionStorage.getItem('teamledger.key')") == \
        dev_server.master_key
    assert dev_server.master_key not in driver.page_source
    assert dev_server.master_key not in driver.current_url
    assert driver.get_cookies() == []
    assert "proxy_admin" in driver.find_element(By.ID, "who").text


def test_team_create(driver, dev_server, team):
    alias = f"console-{RUN}"
    # Given the teams page
    open_page(driver, dev_server, "/teams")
    # When a team is made with the "New team" form
    by_role(driver, "button", "New team").click()
    by_role(driver, "textbox", "Alias").send_keys(alias)
    by_role(driver, "textbox", "Budget").send_keys("100")
    by_role(driver, "textbox", "Budget duration").send_keys("30d")
    by_role(driver, "button", "Create team").click()
    # Then its page opens
    by_role(driver, "heading", f"Team {alias}")
    # And the API has exactly one such team, with that budget, created once
    teams = api(dev_server, "GET", f"/v2/team/list?team_alias={alias}")["teams"]
    assert [(t["team_alias"], t["max_budget"], t["budget_duration"]) for t in teams] == [
        (alias, 100.0, "30d")]
    team.update(id=teams[0]["team_id"], alias=alias)
    assert [r["action"] for r in audit(dev_server, object_id=team["id"])] == ["created"]
    screenshot(driver, "team")


def test_teams_list_search_sort_and_paging(driver, dev_server):
    # Given 12 teams of this run (with the one made above: 13 match the run)
    prefix = f"page-{RUN}"
    for n in range(12):
        api(dev_server, "POST", "/team/new", {"team_alias": f"{prefix}-{n:02d}"})
    open_page(driver, dev_server, "/teams")
    # When the list is searched by a part of the alias (the beginnings of its words, as the
    # search matches), in another case
    by_role(driver, "searchbox", "Search teams").send_keys(prefix.upper()[:-2])
    # Then the first page shows 10 of the 12, the total says 12
    wait_until(driver, lambda: "12 teams" in driver.find_element(By.CLASS_NAME, "pager").text,
               "the 12 teams found")
    rows = table_rows(by_role(driver, "table", "Teams"))
    assert len(rows) == 10 and all(prefix in row[0] for row in rows)
    # When sorted by Alias, descending (one click ascending, one more descending)
    by_role(driver, "button", re.compile("^Alias")).click()
    wait_until(driver, lambda: table_rows(by_role(driver, "table", "Teams"))[0][0]
               == f"{prefix}-00", "the ascending order")
    by_role(driver, "button", re.compile("^Alias")).click()
    # Then the order is the API's
    expected = [t["team_alias"] for t in api(
        dev_server, "GET", f"/v2/team/list?team_alias={prefix}&sort_by=team_alias"
                           "&sort_order=desc&page_size=10")["teams"]]
    wait_until(driver, lambda: [r[0] for r in table_rows(by_role(driver, "table", "Teams"))]
               == expected, "the descending order")
    screenshot(driver, "teams")
    # When paging on, Then the last 2 show, and Previous comes back to the first 10
    by_role(driver, "button", "Next").click()
    wait_until(driver, lambda: [r[0] for r in table_rows(by_role(driver, "table", "Teams"))]
               == [f"{prefix}-01", f"{prefix}-00"], "the second page")
    assert by_role(driver, "button", "Next").get_attribute("disabled") is not None
    by_role(driver, "button", "Previous").click()
    wait_until(driver, lambda: [r[0] for r in table_rows(by_role(driver, "table", "Teams"))]
               == expected, "the first page again")
    # And each alias is a link to its team's page
    by_role(driver, "link", f"{prefix}-11").click()
    by_role(driver, "heading", f"Team {prefix}-11")


def test_member_add_role_change_and_remove(driver, dev_server, team):
    email = f"member-{RUN}@example.com"
    team_page(driver, dev_server, team["id"], team["alias"])
    # When a member is added by email, as a plain user with a budget in the team
    by_role(driver, "button", "Add member").click()
    by_role(driver, "textbox", "User email or User ID").send_keys(email)
    role = by_role(driver, "combobox", "Role")
    role.find_element(By.CSS_SELECTOR, "option[value=user]").click()
    by_role(driver, "textbox", "Budget in team").send_keys("5")
    by_role(driver, "button", "Add").click()
    # Then the Members table shows them, and the API has them once
    members_table = lambda: by_role(driver, "table", "Members")  # noqa: E731
    wait_until(driver, lambda: any(email in r for r in table_rows(members_table())),
               "the new member")
    info = api(dev_server, "GET", f"/team/info?team_id={team['id']}")
    added = [m for m in info["team_info"]["members_with_roles"] if m["user_email"] == email]
    assert [m["role"] for m in added] == ["user"]
    user_id = added[0]["user_id"]
    membership = next(m for m in info["team_memberships"] if m["user_id"] == user_id)
    assert membership["litellm_budget_table"]["max_budget"] == 5.0
    # When their role is changed to admin in their row
    row = next(r for r in all_by_role(members_table(), "row") if email in r.text)
    by_role(row, "button", "Change role").click()
    new_role = by_role(row, "combobox", "New role")
    new_role.find_element(By.CSS_SELECTOR, "option[value=admin]").click()
    by_role(row, "button", "Save role").click()
    # Then the table and the API say admin, changed once
    wait_until(driver, lambda: any(email in r and "admin" in r
                                   for r in table_rows(members_table())), "the new role")
    info = api(dev_server, "GET", f"/team/info?team_id={team['id']}")
    assert [m["role"] for m in info["team_info"]["members_with_roles"]
            if m["user_id"] == user_id] == ["admin"]
    records = audit(dev_server, object_id=f"{team['id']}:{user_id}")
    assert [r["action"] for r in records] == ["updated", "created"]
    screenshot(driver, "team-members")
    # When they are removed
    row = next(r for r in all_by_role(members_table(), "row") if email in r.text)
    by_role(row, "button", "Remove").click()
    # Then they are gone from the table and from the team
    wait_until(driver, lambda: not any(email in r for r in table_rows(members_table())),
               "the member gone")
    info = api(dev_server, "GET", f"/team/info?team_id={team['id']}")
    assert user_id not in [m["user_id"] for m in info["team_info"]["members_with_roles"]]
    assert [r["action"] for r in audit(dev_server, object_id=f"{team['id']}:{user_id}")] == [
        "deleted", "updated", "created"]


def test_budget_edit(driver, dev_server, team):
    team_page(driver, dev_server, team["id"], team["alias"])
    # When the budget is edited to 42
    by_role(driver, "button", "Edit").click()
    budget = by_role(driver, "textbox", "Budget")
    budget.clear()
    budget.send_keys("42")
    by_role(driver, "button", "Save").click()
    # Then the page shows it, and the API has it, changed by one record of that field
    wait_until(driver, lambda: "of $42.00" in driver.find_element(By.ID, "main").text,
               "the new budget")
    assert api(dev_server, "GET", f"/team/info?team_id={team['id']}")["team_info"][
        "max_budget"] == 42.0
    updates = audit(dev_server, object_id=team["id"], action="updated")
    assert [r["updated_values"] for r in updates] == [{"max_budget": 42.0}]


def test_block_and_unblock(driver, dev_server, team):
    team_page(driver, dev_server, team["id"], team["alias"])
    # When the team is blocked
    by_role(driver, "button", "Block team").click()
    # Then the button turns into "Unblock team", and the API says blocked
    unblock = by_role(driver, "button", "Unblock team")
    assert api(dev_server, "GET", f"/team/info?team_id={team['id']}")["team_info"]["blocked"]
    # When it is unblocked
    unblock.click()
    by_role(driver, "button", "Block team")
    # Then the API says unblocked, after one block and one unblock
    assert not api(dev_server, "GET", f"/team/info?team_id={team['id']}")["team_info"][
        "blocked"]
    actions = [r["action"] for r in audit(dev_server, object_id=team["id"])]
    assert (actions.count("blocked"), actions.count("unblocked")) == (1, 1)


def test_key_create_shows_the_raw_key_once_and_delete(driver, dev_server, team):
    alias = f"ci-{RUN}"
    team_page(driver, dev_server, team["id"], team["alias"])
    # When a key is made with "New key"
    by_role(driver, "button", "New key").click()
    by_role(driver, "textbox", "Key alias").send_keys(alias)
    by_role(driver, "button", "Create key").click()
    # Then the raw key is shown, with a copy button, and it is a working key of the team
    raw = by_role(driver, "textbox", "Raw key").get_attribute("value")
    assert raw.startswith("sk-")
    by_role(driver, "button", "Copy")
    screenshot(driver, "team-new-key")
    info = api(dev_server, "GET", "/key/info", key=raw)["info"]
    assert (info["team_id"], info["key_alias"]) == (team["id"], alias)
    keys = lambda: by_role(driver, "table", "Keys")  # noqa: E731
    wait_until(driver, lambda: any(alias in r for r in table_rows(keys())), "the new key")
    # When the user is done with it, Then it is nowhere on the page any more
    by_role(driver, "button", "Done").click()
    wait_until(driver, lambda: raw not in driver.page_source, "the raw key gone")
    # When the key is deleted in its row
    row = next(r for r in all_by_role(keys(), "row") if alias in r.text)
    by_role(row, "button", "Delete").click()
    # Then it is gone from the table, refused by the API, deleted once
    wait_until(driver, lambda: not any(alias in r for r in table_rows(keys())), "the key gone")
    assert call(dev_server, "GET", "/key/info", key=raw)[0] == 401
    records = audit(dev_server, object_id=info["token"])
    assert [r["action"] for r in records] == ["deleted", "created"]


def test_the_team_timeline_shows_the_teams_records_newest_first(driver, dev_server, team):
    # Served by GET /audit?team_id=T (issue 16's team audit API)
    team_page(driver, dev_server, team["id"], team["alias"])
    timeline = by_role(driver, "table", "Activity")
    wait_until(driver, lambda: len(table_rows(timeline)) >= 5, "the team's records")
    rows = table_rows(by_role(driver, "table", "Activity"))
    expected = api(dev_server, "GET", f"/audit?team_id={team['id']}&limit=10")["data"]
    assert [(r[1], r[3]) for r in rows] == [(e["action"], e["object_id"]) for e in expected]
    assert all(e["object_id"].startswith(team["id"]) or
               e["table_name"] == "LiteLLM_VerificationToken" for e in expected)
    times = [e["updated_at"] for e in expected]
    assert times == sorted(times, reverse=True)


def test_the_audit_page_filters(driver, dev_server, team):
    # Given the audit page
    open_page(driver, dev_server, "/audit")
    by_role(driver, "heading", "Audit log")
    # When filtered by the team and the action "blocked"
    by_role(driver, "textbox", "Object").send_keys(team["id"])
    action = by_role(driver, "combobox", "Action")
    action.find_element(By.CSS_SELECTOR, "option[value=blocked]").click()
    by_role(driver, "button", "Apply filters").click()
    # Then only that one record shows, with its before/after
    log = lambda: by_role(driver, "table", "Audit log")  # noqa: E731
    wait_until(driver, lambda: [r[1] for r in table_rows(log())] == ["blocked"], "the record")
    assert len(audit(dev_server, object_id=team["id"], action="blocked")) == 1
    diff = by_role(log(), "table", f"Changes of blocked {team['id']}")
    assert ["blocked", "false", "true"] in [
        [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
        for row in diff.find_elements(By.CSS_SELECTOR, "tbody tr")]
    screenshot(driver, "audit")


def test_users_and_a_users_page(driver, dev_server, team):
    # Given a user in the team
    email = f"user-{RUN}@example.com"
    api(dev_server, "POST", "/team/member_add", {"team_id": team["id"],
                                                 "member": {"user_email": email}})
    open_page(driver, dev_server, "/users")
    # When searched by part of their email
    by_role(driver, "searchbox", "Search users").send_keys(f"user-{RUN}")
    users = lambda: by_role(driver, "table", "Users")  # noqa: E731
    wait_until(driver, lambda: [r[1] for r in table_rows(users())] == [email], "the user")
    screenshot(driver, "users")
    # Then their page shows their team
    by_role(users(), "link").click()
    wait_until(driver, lambda: any(team["alias"] in r[0]
                                   for r in table_rows(by_role(driver, "table", "Their teams"))),
               "their team")
    screenshot(driver, "user")


def test_the_spend_chart(driver, dev_server):
    # Given three teams that spent 30, 20 and 10 of their budgets of 25
    spent = {f"spend-{RUN}-{n}": n * 10.0 for n in (3, 2, 1)}
    for alias, amount in spent.items():
        team_id = api(dev_server, "POST", "/team/new", {"team_alias": alias,
                                                       "max_budget": 25})["team_id"]
        token = api(dev_server, "POST", "/key/generate", {"team_id": team_id})["token"]
        api(dev_server, "POST", "/spend/track", {"token": token, "spend": amount})
    top = "/v2/team/list?sort_by=spend&sort_order=desc&page_size=20"
    # (the spend order follows the table's stream: wait until the API has them on top)
    wait_until(driver, lambda: [t["team_alias"] for t in api(dev_server, "GET", top)[
        "teams"][:3]] == list(spent), "the spend order")
    # When the spend page opens
    open_page(driver, dev_server, "/spend")
    chart = by_role(driver, "image", re.compile("^Spend against budget, top"))
    # Then it has one bar per team of the API's top 20, in its order, the one over budget red
    teams = api(dev_server, "GET", top)["teams"]
    bars = chart.find_elements(By.CSS_SELECTOR, "rect")
    assert [b.find_element(By.CSS_SELECTOR, "title").get_attribute("textContent")
            for b in bars][:3] == [f"{alias}: ${amount:.2f} of $25.00"
                                   for alias, amount in spent.items()]
    assert len(bars) == len(teams) <= 20
    assert [b.get_attribute("class") for b in bars[:3]] == ["bar over", "bar", "bar"]
    screenshot(driver, "spend")


def test_an_alias_with_markup_renders_as_text(driver, dev_server):
    # Given a team whose alias is markup
    alias = f"<img src=x onerror=alert(1)> {RUN}"
    team_id = api(dev_server, "POST", "/team/new", {"team_alias": alias})["team_id"]
    # When it is listed and opened
    open_page(driver, dev_server, "/teams")
    by_role(driver, "searchbox", "Search teams").send_keys(f"onerror=alert(1)> {RUN}")
    by_role(driver, "link", alias).click()
    # Then the alias is text: in the heading as written, no image made, no script run
    by_role(driver, "heading", f"Team {alias}")
    assert driver.find_elements(By.CSS_SELECTOR, "main img") == []
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert team_id in driver.current_url


def test_the_keyboard_reaches_and_presses_a_control_with_visible_focus(driver, dev_server,
                                                                         team):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    # Given a team's page
    team_page(driver, dev_server, team["id"], team["alias"])
    block = by_role(driver, "button", "Block team")
    # When Tab moves the focus from the top of the page to "Block team"
    driver.find_element(By.TAG_NAME, "body").click()
    for _ in range(40):
        if driver.switch_to.active_element == block:
            break
        ActionChains(driver).send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element == block
    # Then the focus shows
    assert driver.execute_script(
        "return getComputedStyle(document.activeElement).outlineStyle") != "none"
    # When Enter presses it, Then the team is blocked; and Enter on "Unblock team" undoes it
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    by_role(driver, "button", "Unblock team").send_keys(Keys.ENTER)
    by_role(driver, "button", "Block team")
    actions = [r["action"] for r in audit(dev_server, object_id=team["id"])]
    assert (actions.count("blocked"), actions.count("unblocked")) == (2, 2)


def test_a_viewer_sees_no_write_control(driver, dev_server, team):
    # Given a viewer
    viewer = api(dev_server, "POST", "/user/new", {"user_role": "proxy_admin_viewer"})
    # When they sign out the admin and sign in
    by_role(driver, "button", "Sign out").click()
    by_role(driver, "textbox", "API key")
    assert driver.execute_script("return sessionStorage.length") == 0
    sign_in(driver, dev_server, viewer["key"])
    # Then the teams list and a team's page show, without one write control
    assert all_by_role(driver, "button", "New team") == []
    team_page(driver, dev_server, team["id"], team["alias"])
    by_role(driver, "table", "Keys")
    shown = {b.accessible_name for b in all_by_role(driver, "button")}
    assert not shown & set(WRITE_CONTROLS), shown
    screenshot(driver, "team-as-viewer")


def test_an_internal_user_sees_their_teams_with_write_controls_on_their_own_only(driver,
                                                                                 dev_server):
    # Given an internal user, team admin of one team and plain member of another
    user = api(dev_server, "POST", "/user/new", {"user_role": "internal_user"})
    led = api(dev_server, "POST", "/team/new", {"team_alias": f"led-{RUN}", "members_with_roles": [
        {"user_id": user["user_id"], "role": "admin"}]})
    joined = api(dev_server, "POST", "/team/new", {"team_alias": f"joined-{RUN}",
                                                   "members_with_roles": [
                                                       {"user_id": user["user_id"]}]})
    # When they sign in
    by_role(driver, "button", "Sign out").click()
    sign_in(driver, dev_server, user["key"])
    # Then they see their two teams only, and no audit log
    teams = lambda: by_role(driver, "table", "Teams")  # noqa: E731
    wait_until(driver, lambda: sorted(r[0] for r in table_rows(teams())) == [
        f"joined-{RUN}", f"led-{RUN}"], "their teams")
    assert all_by_role(driver, "link", "Audit") == []
    assert all_by_role(driver, "button", "New team") == []
    # And write controls on the team they lead, none on the other
    team_page(driver, dev_server, led["team_id"], f"led-{RUN}")
    by_role(driver, "button", "Block team")
    by_role(driver, "button", "Add member")
    # And what their role may not do (a team's budget is the admins') is refused in words
    by_role(driver, "button", "Edit").click()
    by_role(driver, "textbox", "Budget").send_keys("1000")
    by_role(driver, "button", "Save").click()
    wait_until(driver, lambda: any("Error 403" in alert.text
                                   for alert in all_by_role(driver, "alert")), "the refusal")
    assert api(dev_server, "GET", f"/team/info?team_id={led['team_id']}")["team_info"][
        "max_budget"] is None
    team_page(driver, dev_server, joined["team_id"], f"joined-{RUN}")
    by_role(driver, "table", "Keys")
    shown = {b.accessible_name for b in all_by_role(driver, "button")}
    assert not shown & set(WRITE_CONTROLS), shown
