"""POST /spend/settle: the gateway's per-call path (admins, or a key limited to /spend/*)."""

from teamledger.domain import reservations
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import Reservation, SpendSettleRequest

app = ServiceApp()


@app.post("/spend/settle")
def spend_settle(request: SpendSettleRequest) -> Reservation:
    return reservations.settle(app.actor, request)


lambda_handler = lambda_entry(app)
