"""Headless Chromium for the console's browser tests (tests/browser), and finding elements as a
person using a screen reader would: by role and accessible name, as the browser computes them.

Debian's `chromium` and `chromium-driver` (`make browser` installs them) and `selenium`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.template import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = REPO_ROOT / ".browser-screenshots"  # git-ignored; docs/img/ holds copies
WAIT_S = 20
# Without the background-networking flags Chromium's own connections (updates, sync, QUIC
# probes) get refused many at a time on these machines and slow every page.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")

# Candidates for each role, filtered then on the role and name the browser computes.
CANDIDATES = {
    "button": "button, input[type=submit], input[type=button], [role=button]",
    "link": "a[href], [role=link]",
    "textbox": "input:not([type]), input[type=text], input[type=email], textarea, "
               "[role=textbox]",
    "searchbox": "input[type=search], [role=searchbox]",
    "combobox": "select, [role=combobox]",
    "heading": "h1, h2, h3, h4, h5, h6, [role=heading]",
    "table": "table, [role=table]",
    "row": "tr, [role=row]",
    "alert": "[role=alert]",
    "region": "section, [role=region]",
    "form": "form, [role=form]",
    "image": "svg[role=img], img, [role=img], [role=image]",  # Chromium says image for img
    "meter": "meter, [role=meter]",
}


def available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextmanager
def chromium() -> Iterator[Any]:
    """One headless Chromium with a fresh profile, closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="teamledger-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _named(element: Any, name: str | re.Pattern[str]) -> bool:
    actual = (element.accessible_name or "").strip()
    return bool(name.search(actual)) if isinstance(name, re.Pattern) else actual == name


def all_by_role(root: Any, role: str, name: str | re.Pattern[str] | None = None) -> list[Any]:
    """The visible elements under `root` (the driver or an element) with this computed ARIA
    role and, if given, accessible name (a string: exactly; a pattern: found in it)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    found = []
    for element in root.find_elements(By.CSS_SELECTOR, CANDIDATES[role]):
        try:
            if (element.is_displayed() and element.aria_role == role
                    and (name is None or _named(element, name))):
                found.append(element)
        except StaleElementReferenceException:
            continue
    return found


def by_role(root: Any, role: str, name: str | re.Pattern[str] | None = None) -> Any:
    """The one element of that role and name under `root`, waited for (not slept for)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    driver = getattr(root, "parent", root)
    try:
        return WebDriverWait(driver, WAIT_S).until(
            lambda _: (lambda found: found[0] if len(found) == 1 else False)(
                all_by_role(root, role, name)))
    except TimeoutException:
        names = [e.accessible_name for e in all_by_role(root, role)]
        raise AssertionError(f"no single {role} named {name!r}; there are {names}") from None


def wait_until(driver: Any, condition: Callable[[], Any], what: str) -> Any:
    """Polls `condition` until it is truthy (what the page shows catching up), or fails."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def check(_: Any) -> Any:
        try:
            return condition()
        except StaleElementReferenceException:
            return False

    try:
        return WebDriverWait(driver, WAIT_S).until(check)
    except TimeoutException:
        raise AssertionError(f"the page never showed {what}") from None


def table_rows(table: Any) -> list[list[str]]:
    """The body rows of a table, as the text of their cells."""
    from selenium.webdriver.common.by import By

    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, ":scope > td")]
            for row in table.find_elements(By.CSS_SELECTOR, ":scope > tbody > tr")]


def screenshot(driver: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
