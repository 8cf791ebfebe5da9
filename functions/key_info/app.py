"""GET /key/info: a key by its token (or, for compatibility, the raw key)."""

from typing import Annotated

from teamledger.domain import keys
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import KeyInfo
from teamledger.http.params import Query

app = ServiceApp()


@app.get("/key/info")
def key_info(key: Annotated[str | None, Query(max_length=512)] = None) -> KeyInfo:
    return keys.key_info(app.actor, key)


lambda_handler = lambda_entry(app)
