"""POST /key/delete: delete keys; answers their tokens, never raw keys."""

from teamledger.domain import keys
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import KeyDeleteRequest, KeysDeleted

app = ServiceApp()


@app.post("/key/delete")
def key_delete(request: KeyDeleteRequest) -> KeysDeleted:
    return keys.delete_keys(app.actor, request)


lambda_handler = lambda_entry(app)
