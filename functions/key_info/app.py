"""GET /key/info: a key by its token (or, for compatibility, the raw key)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from teamledger import apikeys
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import KeyInfo

app = ServiceApp()


@app.get("/key/info")
def key_info(key: Annotated[str | None, Query(max_length=512)] = None) -> KeyInfo:
    return apikeys.key_info(app.actor, key)


lambda_handler = lambda_entry(app)
