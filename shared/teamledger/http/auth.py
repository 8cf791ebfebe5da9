"""Bearer key -> Caller. One consistent GetItem on the key's token (plus the team's gate for a
team key); the master key never touches the table (its sha256 is compared in constant time)."""

import hmac
from functools import lru_cache

from teamledger.config import settings
from teamledger.domain.callers import (
    DEFAULT_USER_ID,
    PROXY_ADMIN,
    Caller,
    key_refusal,
    team_refusal,
    token_of,
)
from teamledger.errors import Unauthorized
from teamledger.store import stores
from teamledger.store.teams import ACTIVE
from teamledger.timestamps import to_iso, utcnow

_IS = {"blocked": "is blocked", "expired": "has expired"}


@lru_cache(maxsize=1)
def _master_token_from_environment() -> str | None:
    key = settings().master_key
    return token_of(key) if key else None


def master_token() -> str | None:
    cached = _master_token_from_environment()
    secret_name = settings().master_key_secret_name
    if cached or not secret_name:
        return cached
    # Imported here: only deployed functions read the secret, and only on their first request.
    from aws_lambda_powertools.utilities.parameters import get_secret

    return token_of(str(get_secret(secret_name, max_age=300)).strip())


def bearer_key(authorization: str | None) -> str:
    value = (authorization or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value:
        raise Unauthorized("Authentication Error, no api key passed in.")
    return value


def authenticate(authorization: str | None, route: str | None = None) -> Caller:
    token = token_of(bearer_key(authorization))
    master = master_token()
    if master and hmac.compare_digest(token, master):
        return Caller(token=token, user_id=DEFAULT_USER_ID, role=PROXY_ADMIN, is_master=True,
                      route=route)
    key = stores().keys.for_auth(token)
    if key is None:
        raise Unauthorized("Authentication Error, invalid api key.")
    refusal = key_refusal(key, to_iso(utcnow()))
    if refusal:
        raise Unauthorized(f"Authentication Error, this key {_IS[refusal]}.")
    if key.get("team_id"):
        _require_active_team(key["team_id"])
    return Caller(token=token, user_id=key.get("user_id"), role=key.get("user_role"),
                  team_id=key.get("team_id"), route=route,
                  allowed_routes=tuple(key.get("allowed_routes") or ()))


def _require_active_team(team_id: str) -> None:
    refusal = team_refusal(stores().teams.gate(team_id), ACTIVE)
    if refusal == "gone":
        raise Unauthorized("Authentication Error, this key's team no longer exists.")
    if refusal:
        raise Unauthorized(f"Authentication Error, team {team_id} is blocked.")
