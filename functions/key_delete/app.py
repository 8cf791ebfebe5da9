"""POST /key/delete: delete keys; answers their tokens, never raw keys."""

from teamledger import apikeys
from teamledger.api import ServiceApp, lambda_entry
from teamledger.models import KeyDeleteRequest, KeysDeleted

app = ServiceApp()


@app.post("/key/delete")
def key_delete(request: KeyDeleteRequest) -> KeysDeleted:
    return apikeys.delete_keys(app.actor, request)


lambda_handler = lambda_entry(app)
