"""A DynamoDB that does not answer is a 503 the client may retry, never a 500."""

import pytest
from teamledger.config import settings
from teamledger.store.client import client


@pytest.fixture
def unreachable_table(api, monkeypatch):
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    settings.cache_clear()
    client.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()
    client.cache_clear()


@pytest.mark.parametrize(("method", "path", "request_"), [
    ("GET", "/team/info", {"query": {"team_id": "any"}}),
    ("GET", "/v2/team/list", {}),
    ("POST", "/team/new", {"body": {"team_alias": "unreachable"}}),
])
def test_an_unreachable_table_is_503(api, unreachable_table, method, path, request_):
    reply = api.call(method, path, **request_)
    assert reply.status == 503, reply
    assert "retry" in reply.body["detail"]["error"]
