"""`Idempotency-Key` on the create routes: Powertools Idempotency, records in the one table.

A request with the header runs once per (caller's token, route, header value): a retry with the
same body answers the first 200 again (header `Idempotent-Replayed: true`) and writes nothing;
the same key with another body is a 422; while the first request still runs, a 409. Only 200
answers are kept: an error committed nothing (a route commits in one transaction or not at
all), so its retry runs again. The raw key of /user/new and /key/generate is never stored
(docs/api.md): the kept answer has `"key": null`, and so has its replay.

Imported only by a request that carries the header: without it, nothing here is loaded (no
boto3 import at cold start) and the route behaves as if this module did not exist.
"""

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.base import (
    BaseIdempotencySerializer,
)

from teamledger.errors import Busy, InProgress, InvalidHeader
from teamledger.store.idempotency import IdempotencyStore

HEADER = "idempotency-key"  # API Gateway (payload v2) lowercases header names
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
RAW_KEY_FIELD = "key"
# Long enough for any client's retry loop; the table's TTL deletes the record after it.
EXPIRES_AFTER_SECONDS = 24 * 60 * 60

Answer = dict[str, Any]  # a route's Lambda proxy answer: statusCode, headers, body

logger = Logger()


class _KeptAnswer(BaseIdempotencySerializer):
    """The answer as kept for replays: the raw key replaced by null."""

    def to_dict(self, data: Answer) -> Answer:
        body = json.loads(data.get("body") or "null")
        if isinstance(body, dict) and body.get(RAW_KEY_FIELD) is not None:
            data = {**data, "body": json.dumps(body | {RAW_KEY_FIELD: None})}
        return data

    def from_dict(self, data: Answer) -> Answer:
        return data


# The parameter names are Powertools' IdempotentHookFunction's.
def _replayed(response: Answer, idempotent_data: DataRecord) -> Answer:
    return {**response, "headers": {**(response.get("headers") or {}), REPLAYED_HEADER: "true"}}


class _NotKept(Exception):
    """An answer other than 200: Powertools deletes the in-progress record on an exception,
    so the answer goes back to the caller and nothing is kept."""

    def __init__(self, response: Answer) -> None:
        super().__init__(response.get("statusCode"))
        self.response = response


CONFIG = IdempotencyConfig(
    event_key_jmespath="scope", payload_validation_jmespath="body",
    raise_on_no_idempotency_key=False, expires_after_seconds=EXPIRES_AFTER_SECONDS,
    hash_function="sha256", response_hook=_replayed)


@lru_cache(maxsize=1)
def _answer_once() -> Callable[..., Answer]:
    store = IdempotencyStore()

    def answer(request: dict[str, Any], resolve: Callable[[], Answer]) -> Answer:
        response = resolve()
        if response.get("statusCode") != 200:
            raise _NotKept(response)
        return response

    # The decorator applied by hand: Powertools types it as returning Any, and this keeps the
    # answer's type. Called with keywords only (data_keyword_argument), hence the `...`.
    once: Callable[..., Answer] = idempotent_function(
        answer, data_keyword_argument="request", persistence_store=store, config=CONFIG,
        output_serializer=_KeptAnswer(), key_prefix="request")
    return once


def checked_key(value: str) -> str:
    if not 1 <= len(value.strip()) <= MAX_KEY_LENGTH:
        raise InvalidHeader(HEADER, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
                            "string_too_long" if value.strip() else "string_too_short")
    return value


def answer_once(event: dict[str, Any], context: Any, caller_token: str, idempotency_key: str,
                resolve: Callable[[], Answer]) -> Answer:
    """The route's answer, computed once per idempotency key (see the module docstring)."""
    body = event.get("body")
    request = {"scope": [caller_token, event.get("routeKey"), checked_key(idempotency_key)],
               "body": json.loads(body) if body else None}
    if callable(getattr(context, "get_remaining_time_in_millis", None)):
        CONFIG.register_lambda_context(context)  # in progress until the invocation times out
    ran: list[Answer] = []

    def run() -> Answer:
        ran.append(resolve())
        return ran[0]

    try:
        return _answer_once()(request=request, resolve=run)
    except _NotKept as answer:
        return answer.response
    except IdempotencyValidationError as error:
        raise InvalidHeader(HEADER, "This Idempotency-Key was used with a different request "
                                    "body", "idempotency_key_reused") from error
    except IdempotencyAlreadyInProgressError as error:
        raise InProgress("A request with this Idempotency-Key is still in progress; retry "
                         "it later") from error
    except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as error:
        if ran:
            # The route ran (and committed, if it answered 200); only keeping or dropping its
            # record failed. The caller gets its answer; the record's in-progress expiry
            # (the invocation's timeout) frees the key again.
            logger.warning("Idempotency record not updated", extra={"error": type(error).__name__})
            return ran[0]
        logger.warning("Idempotency record not written", extra={"error": type(error).__name__})
        raise Busy("The idempotency record could not be written; please retry") from error
