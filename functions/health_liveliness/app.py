"""GET /health/liveliness: the one route without authentication."""

import json

from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.router import Response

app = ServiceApp()


@app.get("/health/liveliness")
def health_liveliness() -> Response[str]:
    # LiteLLM answers the JSON string "I'm alive!"; clients parse it as JSON.
    return Response(status_code=200, content_type="application/json",
                    body=json.dumps("I'm alive!"))


lambda_handler = lambda_entry(app, public=True)
