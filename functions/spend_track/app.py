"""POST /spend/track: add spend to a key, its user, its team and the membership (admins)."""

from teamledger.domain import spend
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import SpendTracked, SpendTrackRequest

app = ServiceApp()


@app.post("/spend/track")
def spend_track(request: SpendTrackRequest) -> SpendTracked:
    return spend.track_spend(app.actor, request)


lambda_handler = lambda_entry(app)
