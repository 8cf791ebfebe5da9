"""POST /user/new: a user and a first key for them."""

from teamledger.domain import users
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import NewUser, UserNewRequest

app = ServiceApp()


@app.post("/user/new")
def user_new(request: UserNewRequest) -> NewUser:
    return users.create_user(app.actor, request)


lambda_handler = lambda_entry(app, idempotent=True)
