"""An empty key in a JSON object the service stores as a map (issue 13, defect 7).

`/team/update` with `{"metadata": {"": 1}}` once answered 200: moto stored the empty attribute
name, and its stream then carried a record that make dev's poller could not read, at every poll.
DynamoDB itself refuses an empty attribute name anywhere in an item (a top-level name or a map
key at any depth), so in AWS the same request would fail at the write. The service refuses it
up front instead: 422 on the field, before anything is written, on every route that stores such
an object (`metadata`, `model_aliases`)."""

import uuid

import pytest

ODD = [
    pytest.param({"": 1}, id="an empty key"),
    pytest.param({"a": {"b": [{"": "x"}]}}, id="an empty key deep inside"),
    pytest.param({"ok": 1, "": None}, id="an empty key beside a good one"),
]


def _routes(api) -> list[tuple[str, dict]]:
    """Each route that stores a free-form object, with a valid body around it."""
    team = api.new_team()
    return [
        ("/team/new", {"team_id": f"odd-{uuid.uuid4().hex[:8]}"}),
        ("/team/update", {"team_id": team["team_id"]}),
        ("/user/new", {"user_id": f"odd-{uuid.uuid4().hex[:8]}"}),
        ("/key/generate", {"team_id": team["team_id"]}),
    ]


@pytest.mark.parametrize("value", ODD)
def test_an_empty_key_in_metadata_is_422_and_writes_nothing(api, value):
    for path, body in _routes(api):
        # When the object is sent as metadata (and, where a team takes them, model_aliases)
        fields = ["metadata"] + (["model_aliases"] if path.startswith("/team/") else [])
        for field in fields:
            before = api.ok(api.get("/audit", query={"limit": "1"}))["data"]
            reply = api.post(path, body | {field: value})
            # Then it is a 422 on that field, saying why
            assert reply.status == 422, (path, field, reply)
            problem = reply.body["detail"][0]
            assert field in problem["loc"], (path, problem)
            assert "empty" in problem["msg"], (path, problem)
            # And nothing was written (not even an audit record)
            assert api.ok(api.get("/audit", query={"limit": "1"}))["data"] == before


def test_a_team_update_with_an_empty_metadata_key_changes_nothing(api):
    # Given a team with metadata
    team = api.new_team(metadata={"kept": True})
    # When its metadata is replaced by one with an empty key
    reply = api.post("/team/update", {"team_id": team["team_id"], "metadata": {"": 1}})
    # Then it is refused, and the team keeps what it had
    assert reply.status == 422, reply
    info = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))["team_info"]
    assert info["metadata"] == {"kept": True}
    assert info["updated_at"] == team["updated_at"]


def test_keys_that_are_not_empty_are_stored_as_they_are(api):
    # Keys DynamoDB does take, however odd, go in and come back unchanged
    metadata = {" ": 1, "#": {"x": [{}], "y": ""}, ".": "dot", "a.b": {"c": None}, "é" * 300: 2}
    team = api.new_team(metadata=metadata)
    info = api.ok(api.get("/team/info", query={"team_id": team["team_id"]}))["team_info"]
    assert info["metadata"] == metadata
