"""The proxy's custom auth: every LLM call is a reservation in TeamLedger, or it does not run.

LiteLLM calls `auth(request, api_key)` before each request. For a call to a model, it holds the
call's worst-case cost on every budget of the caller's key (`/spend/reserve`) and answers
LiteLLM's `UserAPIKeyAuth` with the key's user, team, alias, models and limits, and the
reservation's id in the key metadata LiteLLM copies into the call's logging metadata; the
callbacks settle or release it by that id.

The raw key never leaves the proxy: TeamLedger gets its sha256, which is TeamLedger's token.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, ProxyErrorTypes, ProxyException, UserAPIKeyAuth
from litellm.proxy.auth.route_checks import RouteChecks
from litellm.proxy.common_utils.http_parsing_utils import read_request_body

from teamledger_litellm.client import Misconfigured, Refused, TeamLedger, Unreachable
from teamledger_litellm.estimate import worst_case
from teamledger_litellm.runtime import runtime

log = logging.getLogger("teamledger_litellm")

RESERVATION = "teamledger_reservation_id"
RESERVED = "teamledger_reserved_usd"
FAILED_OPEN = "teamledger_failed_open"
UNAVAILABLE = "teamledger_unavailable"
# Routes that count a prompt's tokens for a model without calling it.
COUNTING_ROUTES = ("/count_tokens", ":countTokens", "/utils/token_counter")


async def auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if _is_proxy_master_key(api_key):
        return UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.PROXY_ADMIN)
    if not api_key:
        raise _error(401, "Authentication Error, no API key passed", ProxyErrorTypes.auth_error)
    route = request.url.path
    if not RouteChecks.is_llm_api_route(route=route):
        raise _error(403, f"{route} is not served here: this proxy's keys, teams and budgets are "
                     "managed in TeamLedger", ProxyErrorTypes.auth_error)
    try:
        ledger, prices = runtime()
    except ValueError as error:  # SettingsError
        raise _error(503, f"TeamLedger is not configured: {error}", UNAVAILABLE) from None
    body = await read_request_body(request)
    model = _model_of(request, body)
    token = hashlib.sha256(api_key.encode()).hexdigest()
    called = model if not route.endswith(COUNTING_ROUTES) else None  # the model it will run
    amount = (worst_case(called, body, route, prices.prices(called),
                         ledger.settings.default_max_output_tokens)
              if called else Decimal(0))
    reservation = await _reserve(ledger, token, amount, model)
    if reservation is None:
        return _failed_open(api_key, token)
    if not called:
        # Not a call to a model (e.g. GET /v1/models, counting tokens): the reservation only
        # checked the key (and its model); LiteLLM logs no end for it that would release it.
        await _release_key_check(ledger, reservation["reservation_id"])
    return identity(reservation, token, api_key, amount)


async def _release_key_check(ledger: TeamLedger, reservation_id: str) -> None:
    """Release a key check's 0 USD hold, one try: the key is already known to be valid, and a
    hold of 0 left to its lease charges nothing, so a failed release must neither fail nor stall
    the request."""
    try:
        await ledger.release(reservation_id, attempts=1)
    except (Refused, Misconfigured, Unreachable) as error:
        log.warning("release of key check %s failed (it holds 0 USD): %s", reservation_id, error)


async def _reserve(ledger: TeamLedger, token: str, amount: Decimal,
                   model: str | None) -> dict[str, Any] | None:
    """The reservation, or None when TeamLedger is unreachable and failing open is allowed."""
    try:
        return await ledger.reserve(token=token, amount=amount, model=model,
                                    request_id=uuid.uuid4().hex)
    except Refused as refusal:
        raise refused(refusal) from None
    except Misconfigured as error:
        log.error("%s", error)
        raise _error(503, f"TeamLedger could not be asked: {error}", UNAVAILABLE) from None
    except Unreachable as error:
        if ledger.settings.fail_open:
            log.warning("TeamLedger unreachable, call let through uncharged "
                        "(TEAMLEDGER_FAIL_OPEN): %s", error)
            return None
        raise _error(503, f"TeamLedger is unreachable, so the call is refused (the proxy fails "
                     f"closed; TEAMLEDGER_FAIL_OPEN=true lets calls through): {error}",
                     UNAVAILABLE) from None


def identity(reservation: dict[str, Any], token: str, api_key: str,
             amount: Decimal) -> UserAPIKeyAuth:
    scopes = reservation.get("scopes") or {}
    key, user, team = (scopes.get(name) or {} for name in ("key", "user", "team"))
    return UserAPIKeyAuth(
        api_key=token,
        token=token,
        key_name=_abbreviated(api_key),
        key_alias=reservation.get("key_alias"),
        user_id=reservation.get("user_id"),
        team_id=reservation.get("team_id"),
        user_role=LitellmUserRoles.INTERNAL_USER,
        models=reservation.get("models") or [],
        tpm_limit=reservation.get("tpm_limit"),
        rpm_limit=reservation.get("rpm_limit"),
        spend=key.get("spend") or 0.0,
        max_budget=key.get("max_budget"),
        user_spend=user.get("spend"),
        user_max_budget=user.get("max_budget"),
        team_spend=team.get("spend"),
        team_max_budget=team.get("max_budget"),
        metadata={RESERVATION: reservation["reservation_id"], RESERVED: str(amount)},
    )


def refused(refusal: Refused) -> ProxyException:
    """TeamLedger's refusal in LiteLLM's own error shape."""
    if refusal.status == 401:
        message = refusal.message
        if not message.startswith("Authentication Error"):
            message = f"Authentication Error, {message}"
        return _error(401, message, ProxyErrorTypes.auth_error)
    if refusal.status == 403:
        return _error(403, refusal.message, ProxyErrorTypes.key_model_access_denied, "model")
    if refusal.status == 429:
        scope, remaining = refusal.detail.get("scope"), refusal.detail.get("remaining")
        return _error(429, f"Budget has been exceeded! {refusal.message} (scope: {scope}, "
                      f"remaining: {remaining})", ProxyErrorTypes.budget_exceeded, None)
    return _error(refusal.status, refusal.message, "invalid_request_error", None)


def _failed_open(api_key: str, token: str) -> UserAPIKeyAuth:
    return UserAPIKeyAuth(api_key=token, token=token, key_name=_abbreviated(api_key),
                          user_role=LitellmUserRoles.INTERNAL_USER,
                          metadata={FAILED_OPEN: True})


def _model_of(request: Request, body: dict[str, Any]) -> str | None:
    # The path names it on Azure's routes ({model}) and Google's ({model_name}:generateContent).
    model = (body.get("model") or request.path_params.get("model")
             or request.path_params.get("model_name"))
    return model if isinstance(model, str) and model else None


def _is_proxy_master_key(api_key: str) -> bool:
    """LiteLLM's own master key, if the proxy has one, keeps LiteLLM's admin rights."""
    try:
        from litellm.proxy.proxy_server import master_key
    except ImportError:
        return False
    return (isinstance(master_key, str) and bool(master_key) and bool(api_key)
            and secrets.compare_digest(master_key.encode(), api_key.encode()))


def _abbreviated(api_key: str) -> str:
    return f"sk-...{api_key[-4:]}" if len(api_key) > 8 else "sk-..."


def _error(code: int, message: str, kind: str, param: str | None = "None") -> ProxyException:
    return ProxyException(message=message, type=kind, param=param, code=code)
