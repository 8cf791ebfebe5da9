"""The e2e suite runs `make dev`'s server as a process and talks real HTTP to it."""

import pytest

from tests.support.devprocess import dev_server_process


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    """Given one running dev server shared by the tests of a module that do not stop it."""
    with dev_server_process(tmp_path_factory.mktemp("devserver")) as server:
        yield server
