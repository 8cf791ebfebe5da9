"""POST /key/update: change a key's fields; only those sent change."""

from teamledger.domain import key_changes
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Key, KeyUpdateRequest

app = ServiceApp()


@app.post("/key/update")
def key_update(request: KeyUpdateRequest) -> Key:
    return key_changes.update_key(app.actor, request)


lambda_handler = lambda_entry(app)
