"""The console in headless Chromium against `make dev`'s server: one server and one browser
per module. `make browser` installs Chromium and its driver when they are missing."""

import pytest

from tests.support import browser
from tests.support.devprocess import dev_server_process


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    with dev_server_process(tmp_path_factory.mktemp("devserver")) as server:
        yield server


@pytest.fixture(scope="module")
def driver():
    pytest.importorskip("selenium", reason="selenium is not installed (make browser)")
    if not browser.available():
        pytest.skip("chromium and chromium-driver are not installed (make browser)")
    with browser.chromium() as chromium:
        yield chromium
