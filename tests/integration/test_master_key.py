"""The master key (issue 13, defect 5): a deployed function refuses a weak one (every request
answers 503, the logs say why), `make dev` and `sam local` (LOCAL_DEV) accept it with a warning,
and audit records name it by a label, never by a hash a viewer could crack offline."""

import hashlib
import io
import json
import logging
import secrets
import string
import sys
import uuid

import boto3
import pytest

from tests.support.client import MASTER_KEY

WEAK = "sk-1234"


def _cold_start() -> None:
    """Forget what the layer read once per execution environment (its settings, the master
    key), as a new one would."""
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "teamledger":
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and \
                    getattr(value, "__module__", None) == name:
                value.cache_clear()


@pytest.fixture
def environment(api, monkeypatch):
    """Sets (or, with None, unsets) the functions' environment variables for one test."""

    def configure(**variables: str | None) -> None:
        for name, value in variables.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        _cold_start()

    yield configure
    monkeypatch.undo()
    _cold_start()


@pytest.fixture
def log():
    """What authentication logs."""
    from teamledger.http.auth import logger

    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    logger.addHandler(handler)
    yield captured
    logger.removeHandler(handler)


def _secret(value: str) -> str:
    return boto3.client("secretsmanager").create_secret(
        Name=f"teamledger-master-{uuid.uuid4().hex[:8]}", SecretString=value)["ARN"]


# --- deployed: a weak key is refused ---------------------------------------------------------

def test_a_deployed_function_refuses_a_weak_master_key(api, environment, log):
    # Given a user key made while the master key was strong
    user = api.new_user()
    # When the deployed functions (no LOCAL_DEV) get MASTER_KEY=sk-1234
    environment(MASTER_KEY=WEAK, LOCAL_DEV=None)
    # Then the weak key does nothing: a clear 503, no 500, no team written
    team_id = f"weak-{uuid.uuid4().hex[:8]}"
    reply = api.post("/team/new", {"team_id": team_id}, key=WEAK)
    assert reply.status == 503, reply
    assert "master key" in reply.body["detail"]["error"]
    # And every other request answers the same, so the misconfiguration cannot go unseen
    assert api.get("/user/info", key=user["key"]).status == 503
    assert api.get("/team/list", key="sk-" + secrets.token_urlsafe(32)).status == 503
    # (the probe without a key still says the API is up)
    assert api.get("/health/liveliness", key=None).status == 200
    # And the logs say why, without the key
    lines = log.getvalue()
    assert "master key" in lines.lower() and "128" in lines
    assert WEAK not in lines
    # And once the key is strong again, the team was never made
    environment(MASTER_KEY=MASTER_KEY)
    assert api.get("/team/info", query={"team_id": team_id}).status == 404


def test_a_weak_master_key_from_secrets_manager_is_refused(api, environment):
    environment(MASTER_KEY=None, LOCAL_DEV=None, MASTER_KEY_SECRET_NAME=_secret(WEAK))

    reply = api.get("/team/list", key=WEAK)

    assert reply.status == 503, reply


@pytest.mark.parametrize("weak", [
    "sk-1234", "sk-local-master-key-change-me", "sk-" + "a" * 64,
    "sk-from-secrets-manager-" + "x" * 32, "sk-5f0c2e9a71b3d468"])
def test_keys_under_128_bits_are_refused(api, environment, weak):
    environment(MASTER_KEY=weak, LOCAL_DEV=None)

    assert api.get("/team/list", key=weak).status == 503


def test_a_key_as_the_stack_generates_it_is_accepted(api, environment):
    # The template's secret: 48 characters, letters and digits (ExcludePunctuation)
    alphabet = string.ascii_letters + string.digits
    generated = "".join(secrets.choice(alphabet) for _ in range(48))
    environment(MASTER_KEY=None, LOCAL_DEV=None, MASTER_KEY_SECRET_NAME=_secret(generated))

    assert api.get("/team/list", key=generated).status == 200


# --- make dev / sam local: accepted, with a warning -----------------------------------------

def test_locally_a_weak_master_key_is_accepted_with_a_warning(api, environment, log):
    environment(MASTER_KEY=WEAK, LOCAL_DEV="true")

    assert api.get("/team/list", key=WEAK).status == 200
    lines = log.getvalue()
    assert "master key" in lines.lower() and "LOCAL_DEV" in lines
    assert WEAK not in lines


# --- audit records name the master key by a label --------------------------------------------

def test_audit_records_name_the_master_key_by_a_label_never_by_its_hash(api):
    # Given changes made with the master key, and one made with a user key
    team = api.new_team()
    api.ok(api.post("/team/update", {"team_id": team["team_id"], "team_alias": "renamed"}))
    admin = api.new_user("proxy_admin")
    api.ok(api.post("/team/update", {"team_id": team["team_id"], "team_alias": "again"},
                    key=admin["key"]))
    # When a viewer reads the audit log
    viewer = api.new_user("proxy_admin_viewer")
    records = api.ok(api.get("/audit", query={"object_id": team["team_id"]},
                             key=viewer["key"]))["data"]
    # Then the master key's changes say "master_key", and the user's its token
    assert [r["changed_by_api_key"] for r in records] == [
        hashlib.sha256(admin["key"].encode()).hexdigest(), "master_key", "master_key"]
    # And nothing derived from the master key is in them
    assert hashlib.sha256(MASTER_KEY.encode()).hexdigest() not in json.dumps(records)
