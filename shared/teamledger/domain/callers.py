"""Who calls: a key's identity (user, role, team), and who a change is recorded as made by."""

import hashlib
from dataclasses import dataclass
from typing import Any

DEFAULT_USER_ID = "default_user_id"
PROXY_ADMIN = "proxy_admin"
PROXY_ADMIN_VIEWER = "proxy_admin_viewer"
INTERNAL_USER = "internal_user"
INTERNAL_USER_VIEWER = "internal_user_viewer"


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
    route: str | None = None  # the path of the route called (its template, as routed)
    allowed_routes: tuple[str, ...] = ()  # empty: not limited by the key

    def may_call_route(self) -> bool:
        """A key limited to some routes (exact paths, or prefixes ending in `/*`) calls only
        those."""
        if not self.allowed_routes:
            return True
        route = self.route or ""
        return any(route == allowed or (allowed.endswith("/*") and
                                        route.startswith(allowed[:-1]))
                   for allowed in self.allowed_routes)

    @property
    def is_admin(self) -> bool:
        return self.role == PROXY_ADMIN

    @property
    def reads_everything(self) -> bool:
        return self.role in (PROXY_ADMIN, PROXY_ADMIN_VIEWER)


def key_refusal(key: dict[str, Any], now: str) -> str | None:
    """Why a stored key may not be used now ("blocked", "expired"), or None."""
    if key.get("blocked"):
        return "blocked"
    if key.get("expires") and key["expires"] <= now:
        return "expired"
    return None


def team_refusal(team: dict[str, Any] | None, active: str) -> str | None:
    """Why a key's team (its gate: status, blocked) refuses the key ("gone", "blocked")."""
    if team is None or team.get("status") != active:
        return "gone"
    return "blocked" if team.get("blocked") else None


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit records it."""

    caller: Caller
    changed_by: str | None
