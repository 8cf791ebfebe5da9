"""Idempotency-Key over real HTTP against `make dev`: a retried /key/generate answers the first
answer (without the raw key) and makes one key; another body with that key is a 422."""

import uuid

from tests.support.devhttp import call, send


def test_a_retried_key_generation_makes_one_key(dev_server):
    # Given a user, and a key generation sent twice with one Idempotency-Key
    user_id = f"idem-{uuid.uuid4().hex[:8]}"
    assert call(dev_server, "POST", "/user/new", {"user_id": user_id})[0] == 200
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = send(dev_server, "POST", "/key/generate", {"user_id": user_id}, headers=headers)
    again = send(dev_server, "POST", "/key/generate", {"user_id": user_id}, headers=headers)
    other = send(dev_server, "POST", "/key/generate", {"user_id": user_id, "key_alias": "x"},
                 headers=headers)
    # Then the retry is the first answer without the raw key, and the other body a 422
    assert first[0] == 200 and first[1]["key"].startswith("sk-")
    assert again[0] == 200 and again[1] == first[1] | {"key": None}
    assert again[2].get("idempotent-replayed") == "true"
    assert other[0] == 422 and other[1]["detail"][0]["loc"] == ["header", "idempotency-key"]
    # And the user has their first key and one generated key
    status, info = call(dev_server, "GET", f"/user/info?user_id={user_id}")
    assert status == 200 and len(info["keys"]) == 2
