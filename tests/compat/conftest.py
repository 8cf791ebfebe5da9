"""LiteLLM's own Python client (`litellm.proxy.client`, LiteLLM 1.110.2) against `make dev`'s
server: what a LiteLLM user sees when they point their client at TeamLedger.

These tests run in the client's venv (`.venv-litellm-client`, `make compat`): LiteLLM's pins
do not mix with the layer's. The dev server they start runs in `.venv`, as `make dev` does.
Where the client has a typed call (keys, users, team lists) the tests use it; for the routes it
has none for (`/team/new`, `/team/member_add`, `/key/regenerate`, ...) they use its generic
`client.http.request`, which sends the caller's key the same way.
"""

import importlib.util
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.devprocess import dev_server_process
from tests.support.template import REPO_ROOT

# Outside the client's venv (a plain `pytest` in .venv) there is no LiteLLM: nothing to collect.
if importlib.util.find_spec("litellm") is None:
    collect_ignore_glob = ["test_*.py"]

# LiteLLM fetches its model price list from the network on import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

DEV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


@pytest.fixture(scope="session")
def dev(tmp_path_factory):
    """Given one `make dev` server for the whole client suite (every test names its own ids)."""
    with dev_server_process(tmp_path_factory.mktemp("devserver"), python=DEV_PYTHON) as server:
        yield server


@pytest.fixture(scope="session")
def client_as(dev) -> Callable[[str], Any]:
    """LiteLLM's `Client` for the dev server, authenticated with the given key."""
    from litellm.proxy.client import Client

    return lambda key: Client(base_url=dev.url, api_key=key)


@pytest.fixture(scope="session")
def users_as(dev) -> Callable[[str], Any]:
    """LiteLLM's `UsersManagementClient` (not part of `Client`) with the given key."""
    from litellm.proxy.client import UsersManagementClient

    return lambda key: UsersManagementClient(dev.url, api_key=key)


@pytest.fixture(scope="session")
def admin(dev, client_as):
    """The client with the master key: a proxy admin."""
    return client_as(dev.master_key)


@pytest.fixture(scope="session")
def admin_users(dev, users_as):
    return users_as(dev.master_key)


@pytest.fixture
def uid() -> Callable[[str], str]:
    """Ids of this test's own, so that tests sharing the server never see each other's."""
    run = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{run}"


@pytest.fixture
def new_team(admin, uid) -> Callable[..., dict]:
    """A team made by the admin through the client (it has no typed call for /team/new)."""

    def make(**fields: Any) -> dict:
        fields.setdefault("team_alias", uid("team"))
        return admin.http.request("POST", "/team/new", json=fields)

    return make
