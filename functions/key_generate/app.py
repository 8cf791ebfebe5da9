"""POST /key/generate: a new key; the raw key is in this response and nowhere else, ever."""

from teamledger.domain import keys
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import GeneratedKey, KeyGenerateRequest

app = ServiceApp()


@app.post("/key/generate")
def key_generate(request: KeyGenerateRequest) -> GeneratedKey:
    return keys.generate_key(app.actor, request)


lambda_handler = lambda_entry(app, idempotent=True)
