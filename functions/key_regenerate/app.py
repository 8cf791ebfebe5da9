"""POST /key/regenerate and /key/{key}/regenerate: a new raw key for the same key (in this
response and nowhere else, ever); the old one stops at once, or when its grace period ends."""

from typing import Annotated

from teamledger.domain import key_changes
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import GeneratedKey, KeyRegenerateRequest
from teamledger.http.params import Body, Path

app = ServiceApp()


@app.post("/key/regenerate")
def key_regenerate(request: KeyRegenerateRequest) -> GeneratedKey:
    return key_changes.regenerate_key(app.actor, request)


@app.post("/key/<key>/regenerate")
def key_regenerate_named(
        key: Annotated[str, Path(min_length=1, max_length=512)],
        request: Annotated[KeyRegenerateRequest | None, Body()] = None) -> GeneratedKey:
    return key_changes.regenerate_key(app.actor, request or KeyRegenerateRequest(), key)


lambda_handler = lambda_entry(app)
