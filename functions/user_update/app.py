"""POST /user/update: change a user's fields (admins: any user; a user: their own email and
metadata)."""

from teamledger.domain import user_changes
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import User, UserUpdateRequest

app = ServiceApp()


@app.post("/user/update")
def user_update(request: UserUpdateRequest) -> User:
    return user_changes.update_user(app.actor, request)


lambda_handler = lambda_entry(app)
