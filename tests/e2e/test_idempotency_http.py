"""Idempotency-Key over real HTTP against `make dev`: a retried /key/generate answers the first
answer (without the raw key) and makes one key; another body with that key is a 422."""

import json
import urllib.error
import urllib.request
import uuid


def call(server, path: str, body: dict, headers: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                     method="POST", headers={
        "content-type": "application/json",
        "authorization": f"Bearer {server.master_key}", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_a_retried_key_generation_makes_one_key(dev_server):
    # Given a user, and a key generation sent twice with one Idempotency-Key
    user_id = f"idem-{uuid.uuid4().hex[:8]}"
    assert call(dev_server, "/user/new", {"user_id": user_id}, {})[0] == 200
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = call(dev_server, "/key/generate", {"user_id": user_id}, headers)
    again = call(dev_server, "/key/generate", {"user_id": user_id}, headers)
    other = call(dev_server, "/key/generate", {"user_id": user_id, "key_alias": "x"}, headers)
    # Then the retry is the first answer without the raw key, and the other body a 422
    assert first[0] == 200 and first[1]["key"].startswith("sk-")
    assert again[0] == 200 and again[1] == first[1] | {"key": None}
    assert {k.lower(): v for k, v in again[2].items()}.get("idempotent-replayed") == "true"
    assert other[0] == 422 and other[1]["detail"][0]["loc"] == ["header", "idempotency-key"]
    # And the user has their first key and one generated key
    request = urllib.request.Request(f"{dev_server.url}/user/info?user_id={user_id}", headers={
        "authorization": f"Bearer {dev_server.master_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert len(json.loads(response.read())["keys"]) == 2
