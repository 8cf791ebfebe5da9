"""The master key as deployed: read from Secrets Manager through Powertools Parameters, never
from the table, never written to a log."""

import io
import logging
import secrets

import boto3
import pytest
from teamledger import config
from teamledger.http import auth


@pytest.fixture
def master_key_in_secrets_manager(api, monkeypatch):
    secret = "sk-from-secrets-manager-" + secrets.token_urlsafe(32)  # a weak one is refused
    arn = boto3.client("secretsmanager").create_secret(
        Name=f"teamledger-master-{id(monkeypatch)}", SecretString=secret)["ARN"]
    monkeypatch.delenv("MASTER_KEY")
    monkeypatch.setenv("MASTER_KEY_SECRET_NAME", arn)
    _forget_settings()
    yield secret
    monkeypatch.undo()
    _forget_settings()


def _forget_settings():
    config.settings.cache_clear()
    auth._master_token_from_environment.cache_clear()


def test_the_master_key_comes_from_secrets_manager(api, master_key_in_secrets_manager):
    assert api.get("/team/list", key=master_key_in_secrets_manager).status == 200
    assert api.get("/team/list", key=master_key_in_secrets_manager + "x").status == 401
    # the environment's key is not a master key any more
    assert api.get("/team/list").status == 401


def test_no_raw_key_reaches_a_log_line(api, monkeypatch):
    # Given the most talkative logging there is, and a route that fails unexpectedly
    from teamledger.domain import team_lists
    from teamledger.http import app as service_api

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(service_api.logger.registered_formatter)
    service_api.logger.addHandler(handler)
    service_api.logger.setLevel("DEBUG")
    monkeypatch.setattr(team_lists, "list_teams", _explode)
    user = api.new_user()
    raw = api.new_key(user_id=user["user_id"])["key"]
    api.get("/key/info", query={"key": raw})
    api.get("/key/info", key=raw)
    api.post("/key/delete", {"keys": [raw]}, key=raw)
    api.get("/team/info", query={"team_id": "missing"}, key=raw)
    api.post("/team/new", raw_body="{not json", key=raw)
    assert api.get("/team/list", key=user["key"]).status == 500
    service_api.logger.setLevel("INFO")
    service_api.logger.removeHandler(handler)
    lines = log.getvalue()
    assert "Unhandled error" in lines  # the logs were captured, and say what went wrong
    from tests.support.client import MASTER_KEY

    for secret in (raw, user["key"], MASTER_KEY):
        assert secret not in lines


def _explode(*args, **kwargs):
    raise RuntimeError("the table went away")
