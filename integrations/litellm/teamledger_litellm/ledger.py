"""The proxy's callbacks: a call that succeeded settles its actual cost; one that failed
releases its hold.

LiteLLM logs a success once per call, streamed calls at the end of the stream, with the call's
`response_cost`; the proxy's failure hook runs once per request that ends in an error (after
the router's retries and fallbacks, so a retried call is not released while it may still
succeed). Both find the reservation by the id the auth put in the key's metadata.

Settle and release run as tasks of their own, retried with backoff, so neither delays the
answer. Both are idempotent by reservation id, so a retry after a lost answer changes nothing.
A proxy that dies before settling loses nothing either: the reservation's lease runs out and
TeamLedger charges its amount.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from decimal import Decimal
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from teamledger_litellm.client import Misconfigured, Refused, Unreachable
from teamledger_litellm.estimate import decimal
from teamledger_litellm.gate import FAILED_OPEN, RESERVATION, RESERVED
from teamledger_litellm.runtime import runtime

log = logging.getLogger("teamledger_litellm")


class TeamLedgerCallbacks(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.pending: set[asyncio.Task[None]] = set()

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any,
                                      start_time: Any, end_time: Any) -> None:
        metadata = key_metadata(kwargs)
        reservation_id = metadata.get(RESERVATION)
        cost = decimal(kwargs.get("response_cost"))
        if cost is None:
            cost = decimal((kwargs.get("standard_logging_object") or {}).get("response_cost"))
        if not isinstance(reservation_id, str):
            if metadata.get(FAILED_OPEN):
                log.warning("call let through while TeamLedger was unreachable was not charged "
                            "(cost %s USD)", cost)
            return
        if cost is None:
            # LiteLLM could not price the call: charge what was held, the worst case.
            cost = decimal(metadata.get(RESERVED)) or Decimal(0)
            log.warning("no response_cost for reservation %s: settling the amount held, %s USD",
                        reservation_id, cost)
        self._spawn(self._settle(reservation_id, cost))

    async def async_post_call_failure_hook(self, request_data: dict[str, Any],
                                           original_exception: Exception,
                                           user_api_key_dict: Any,
                                           traceback_str: str | None = None) -> None:
        reservation_id = (getattr(user_api_key_dict, "metadata", None) or {}).get(RESERVATION)
        if isinstance(reservation_id, str):
            self._spawn(self._release(reservation_id))
        return None

    async def drain(self) -> None:
        """Wait for every settle and release still in flight (tests, shutdown)."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    async def _settle(self, reservation_id: str, cost: Decimal) -> None:
        ledger, _ = runtime()
        try:
            await ledger.settle(reservation_id, cost)
        except Refused as refusal:
            log.error("settle of reservation %s refused: %s %s", reservation_id,
                      refusal.status, refusal.message)
        except (Unreachable, Misconfigured) as error:
            log.error("settle of reservation %s (%s USD) gave up; its lease will charge the "
                      "amount held: %s", reservation_id, cost, error)

    async def _release(self, reservation_id: str) -> None:
        ledger, _ = runtime()
        try:
            await ledger.release(reservation_id)
        except Refused as refusal:
            log.error("release of reservation %s refused: %s %s", reservation_id,
                      refusal.status, refusal.message)
        except (Unreachable, Misconfigured) as error:
            log.error("release of reservation %s gave up; its lease will charge the amount "
                      "held: %s", reservation_id, error)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)


def key_metadata(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The key metadata the auth answered, as LiteLLM passes it to a logger."""
    params = kwargs.get("litellm_params") or {}
    for holder in (params.get("metadata"), params.get("litellm_metadata"),
                   kwargs.get("litellm_metadata")):
        found = (holder or {}).get("user_api_key_metadata") if isinstance(holder, Mapping) else None
        if isinstance(found, Mapping) and RESERVATION in found:
            return found
    logged = (kwargs.get("standard_logging_object") or {}).get("metadata") or {}
    found = logged.get("user_api_key_auth_metadata") if isinstance(logged, Mapping) else None
    return found if isinstance(found, Mapping) else {}
