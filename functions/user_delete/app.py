"""POST /user/delete: users, with their memberships, keys and emails."""

from teamledger.domain import user_changes
from teamledger.http.app import ServiceApp, lambda_entry
from teamledger.http.models import UserDeleteRequest, UsersDeleted

app = ServiceApp()


@app.post("/user/delete")
def user_delete(request: UserDeleteRequest) -> UsersDeleted:
    return user_changes.delete_users(app.actor, request)


lambda_handler = lambda_entry(app)
