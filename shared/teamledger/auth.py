"""Bearer key -> Caller. One consistent GetItem on the key's token; the master key never
touches the table (its sha256 is compared in constant time)."""

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from teamledger import db, itemkeys
from teamledger.config import settings
from teamledger.errors import Unauthorized
from teamledger.timestamps import to_iso, utcnow

DEFAULT_USER_ID = "default_user_id"
PROXY_ADMIN = "proxy_admin"
PROXY_ADMIN_VIEWER = "proxy_admin_viewer"
INTERNAL_USER = "internal_user"
INTERNAL_USER_VIEWER = "internal_user_viewer"
_KEY_FIELDS = ("user_id", "team_id", "user_role", "blocked", "expires")


def token_of(raw_key: str) -> str:
    """The stored identity of a key: sha256 of the whole string, lowercase hex."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    token: str
    user_id: str | None
    role: str | None
    team_id: str | None = None
    is_master: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == PROXY_ADMIN

    @property
    def reads_everything(self) -> bool:
        return self.role in (PROXY_ADMIN, PROXY_ADMIN_VIEWER)


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit records it."""

    caller: Caller
    changed_by: str | None


@lru_cache(maxsize=1)
def _master_token_from_environment() -> str | None:
    key = settings().master_key
    return token_of(key) if key else None


def master_token() -> str | None:
    cached = _master_token_from_environment()
    if cached or not settings().master_key_secret_name:
        return cached
    # Imported here: only deployed functions read the secret, and only on their first request.
    from aws_lambda_powertools.utilities.parameters import get_secret

    return token_of(get_secret(settings().master_key_secret_name, max_age=300).strip())


def bearer_key(authorization: str | None) -> str:
    value = (authorization or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value:
        raise Unauthorized("Authentication Error, no api key passed in.")
    return value


def authenticate(authorization: str | None) -> Caller:
    token = token_of(bearer_key(authorization))
    master = master_token()
    if master and hmac.compare_digest(token, master):
        return Caller(token=token, user_id=DEFAULT_USER_ID, role=PROXY_ADMIN, is_master=True)
    key = db.get(itemkeys.api_key(token), attributes=_KEY_FIELDS)
    if key is None:
        raise Unauthorized("Authentication Error, invalid api key.")
    if key.get("blocked"):
        raise Unauthorized("Authentication Error, this key is blocked.")
    if key.get("expires") and key["expires"] <= to_iso(utcnow()):
        raise Unauthorized("Authentication Error, this key has expired.")
    if key.get("team_id"):
        _require_active_team(key["team_id"])
    return Caller(token=token, user_id=key.get("user_id"), role=key.get("user_role"),
                  team_id=key.get("team_id"))


def _require_active_team(team_id: str) -> None:
    team = db.get(itemkeys.team(team_id), attributes=("blocked", "status"))
    if team is None or team.get("status") != "active":
        raise Unauthorized("Authentication Error, this key's team no longer exists.")
    if team.get("blocked"):
        raise Unauthorized(f"Authentication Error, team {team_id} is blocked.")
