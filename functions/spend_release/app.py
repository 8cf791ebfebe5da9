"""POST /spend/release: the gateway's per-call path (admins, or a key limited to /spend/*)."""

from teamledger.domain import reservations
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Reservation, SpendReleaseRequest

app = ServiceApp()


@app.post("/spend/release")
def spend_release(request: SpendReleaseRequest) -> Reservation:
    return reservations.release(app.actor, request)


lambda_handler = lambda_entry(app)
