"""POST /spend/reserve: the gateway's per-call path (admins, or a key limited to /spend/*)."""

from teamledger.domain import reservations
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Reservation, SpendReserveRequest

app = ServiceApp()


@app.post("/spend/reserve")
def spend_reserve(request: SpendReserveRequest) -> Reservation:
    return reservations.reserve(app.actor, request)


lambda_handler = lambda_entry(app)
