"""TeamLedger's three per-call routes over HTTP, with retries.

Every call is safe to send again: a reserve carries a `request_id` (the same reservation
answers), and settle and release are idempotent by reservation id. So a try whose answer was lost
is simply tried again, with exponential backoff and jitter, until the attempts run out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from decimal import Decimal
from typing import Any

import httpx

from teamledger_litellm.settings import Settings

log = logging.getLogger("teamledger_litellm")


class Unreachable(Exception):
    """TeamLedger gave no usable answer (no connection, a timeout, a 5xx) after every try."""


class Misconfigured(Exception):
    """TeamLedger refused the plugin's own key (TEAMLEDGER_KEY): no call can be decided."""


class Refused(Exception):
    """A 4xx about the call itself: unknown key, model not allowed, budget exceeded, …"""

    def __init__(self, status: int, detail: dict[str, Any]) -> None:
        self.status = status
        self.detail = detail
        super().__init__(status, self.message)

    @property
    def message(self) -> str:
        error = self.detail.get("error")
        return error if isinstance(error, str) else f"TeamLedger answered {self.status}"

    @property
    def kind(self) -> str | None:
        kind = self.detail.get("type")
        return kind if isinstance(kind, str) else None


def usd_json(amount: Decimal) -> float:
    """A USD amount for a JSON body. Amounts here have at most 10 decimals, so the float's repr
    (what TeamLedger reads back) is the same decimal."""
    return float(amount)


class TeamLedger:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Any = asyncio.sleep) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def reserve(self, *, token: str, amount: Decimal, model: str | None,
                      request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"token": token, "amount": usd_json(amount),
                                "request_id": request_id, "ttl_seconds": self.settings.lease_s}
        if model:
            body["model"] = model
        return await self._post("/spend/reserve", body, self.settings.reserve_attempts)

    async def settle(self, reservation_id: str, spend: Decimal) -> dict[str, Any]:
        body = {"reservation_id": reservation_id, "spend": usd_json(spend)}
        return await self._post("/spend/settle", body, self.settings.settle_attempts)

    async def release(self, reservation_id: str, attempts: int | None = None) -> dict[str, Any]:
        body = {"reservation_id": reservation_id}
        return await self._post("/spend/release", body, attempts or self.settings.settle_attempts)

    async def _post(self, path: str, body: dict[str, Any], attempts: int) -> dict[str, Any]:
        failure = "no try made"
        for attempt in range(attempts):
            if attempt:
                await self._sleep(self._backoff(attempt))
            try:
                response = await self._http().post(path, json=body)
            except httpx.TransportError as error:
                failure = f"{type(error).__name__} on {path}"
                continue
            if response.status_code < 400:
                try:
                    answer: dict[str, Any] = response.json()
                except ValueError:
                    failure = f"{response.status_code} on {path} with a body that is not JSON"
                    continue
                return answer
            if response.status_code >= 500:
                failure = f"{response.status_code} on {path}"
                continue
            raise self._refusal(path, response)
        log.warning("TeamLedger %s failed after %d tries: %s", path, attempts, failure)
        raise Unreachable(f"TeamLedger at {self.settings.url} gave no answer to {path} "
                          f"after {attempts} tries ({failure})")

    def _refusal(self, path: str, response: httpx.Response) -> Exception:
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = None
        detail = detail if isinstance(detail, dict) else {"error": str(detail or response.text)}
        own_key = response.status_code in (401, 403) and "type" not in detail
        if own_key:
            return Misconfigured(f"TeamLedger refused TEAMLEDGER_KEY on {path} "
                                 f"({response.status_code}: {detail.get('error')}); it must be "
                                 "a key whose allowed_routes include /spend/*")
        return Refused(response.status_code, detail)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.max_backoff_s, self.settings.backoff_s * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)

    def _http(self) -> httpx.AsyncClient:
        """One client per event loop (the proxy runs one per worker process)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                base_url=self.settings.url, transport=self._transport,
                timeout=self.settings.timeout_s,
                headers={"Authorization": f"Bearer {self.settings.key}"})
            self._loop = loop
        return self._client
