"""The app every route function uses, and the one place errors become HTTP.

Authentication runs before request validation, because the API orders the checks 401, then
422. Bodies are screened before any parser sees them: too large (413), not UTF-8, not JSON,
not a JSON object or nested too deep (422) — never a 500. A GET's body is dropped unread.

Tracing is Lambda's active tracing, with botocore's calls as subsegments. The X-Ray SDK that
records them is loaded on a function's first request, not at its init: a cold start pays for
every import, and no DynamoDB call happens before a request.
"""

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from teamledger import sizes, snapstart
from teamledger.domain.limits import MAX_DEPTH
from teamledger.errors import (
    InvalidBody,
    InvalidHeader,
    PayloadTooLarge,
    ServiceError,
    TransactionCancelled,
)
from teamledger.http.router import (
    Event,
    RequestValidationError,
    Response,
    RouteNotFound,
    Router,
    render,
)
from teamledger.tracing import traced

if TYPE_CHECKING:
    from teamledger.domain.callers import Actor

MAX_BODY_BYTES = 1024 * 1024
CHANGED_BY_HEADER = "litellm-changed-by"
IDEMPOTENCY_HEADER = "idempotency-key"  # teamledger.http.idempotency, loaded only when it is sent
# A body on these has no meaning: it is dropped unread, as LiteLLM (FastAPI) ignores it.
BODILESS_METHODS = ("GET", "HEAD")

logger = Logger()
metrics = Metrics()
# Counted at each catch-all 500 (template.yaml's UnexpectedErrorsAlarm fires on any).
UNEXPECTED_ERRORS_METRIC = "UnexpectedErrors"

Body = dict[str, Any]  # every answer's JSON body is an object


class RouteHandler(Protocol):
    """What lambda_entry makes: a Lambda handler, marked with whether it is idempotent."""

    idempotent: bool  # read by the OpenAPI generator

    def __call__(self, event: Event, context: Any) -> dict[str, Any]: ...


def _json_response(status: int, body: Body) -> Response[Body]:
    return Response(status, body)


def error_body(error: ServiceError) -> Body:
    if isinstance(error, InvalidBody):
        return {"detail": [{"loc": ["body"], "msg": error.message, "type": "json_invalid"}]}
    if isinstance(error, InvalidHeader):
        return {"detail": [{"loc": ["header", error.header], "msg": error.message,
                            "type": error.kind}]}
    return {"detail": {"error": error.message, **error.fields}}


class ServiceApp(Router):
    """A route function's routes, and how each error is answered."""

    def __init__(self) -> None:
        super().__init__()
        self._actor: Actor | None = None

    @property
    def actor(self) -> "Actor":
        if self._actor is None:  # lambda_entry sets it before any non-public route runs
            raise RuntimeError("No caller: the route is public")
        return self._actor

    def resolve(self, event: Event, actor: "Actor | None") -> dict[str, Any]:
        """The answer to one screened request, in API Gateway's payload v2 format."""
        self._actor = actor
        try:
            return render(self.dispatch(event))
        except ServiceError as error:
            return render(_json_response(error.status, error_body(error)))
        except RequestValidationError as error:
            detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                       "type": str(e.get("type", ""))} for e in error.errors()]
            return render(_json_response(422, {"detail": detail}))
        except RouteNotFound:
            return render(_json_response(404, {"detail": {"error": "Not found"}}))
        except TransactionCancelled as error:
            # Nothing was written; a concurrent change won. Safe for the client to retry.
            logger.warning("Transaction cancelled", extra={"reasons": error.reasons})
            return render(_json_response(
                503, {"detail": {"error": "A concurrent change won; please retry"}}))
        except Exception:
            logger.exception("Unhandled error")
            return render(_json_response(500, unexpected_error_body()))
        finally:
            self._actor = None


def unexpected_error_body() -> Body:
    """The contract's catch-all 500 body, counted in the UnexpectedErrors metric."""
    metrics.add_metric(name=UNEXPECTED_ERRORS_METRIC, unit=MetricUnit.Count, value=1)
    return {"detail": {"error": "Internal server error"}}


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def screen_body(event: Event) -> None:
    """Check the raw body; leave the event with a plain-text JSON body Powertools can read."""
    body = event.get("body")
    if not body:
        # No body is a 422 for a route that needs one, whatever the content-type says
        # (Powertools would refuse text/plain outright, as an unexpected error).
        event.setdefault("headers", {})["content-type"] = "application/json"
        return
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") \
            else body.encode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError) as error:
        raise InvalidBody("Request body is not valid base64") from error
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        parsed = json.loads(text)
    except UnicodeDecodeError as error:
        raise InvalidBody("Request body is not valid UTF-8") from error
    except RecursionError as error:
        raise InvalidBody(f"Request body is nested deeper than {MAX_DEPTH} levels") from error
    except ValueError as error:
        raise InvalidBody(f"Request body is not valid JSON: {error}") from error
    if _depth(parsed) > MAX_DEPTH:
        raise InvalidBody(f"Request body is nested deeper than {MAX_DEPTH} levels")
    # Every body of the API is an object. Powertools would read a list as its first element.
    if not isinstance(parsed, dict):
        raise InvalidBody("Request body must be a JSON object")
    event["body"], event["isBase64Encoded"] = text, False
    # curl -d sends form content-type; a JSON body is JSON whatever the header says.
    event.setdefault("headers", {})["content-type"] = "application/json"


def _admit(event: Event, public: bool) -> "Actor | None":
    headers = event.get("headers") or {}
    actor = None
    if not public:
        # Imported here so the one public route (health) never loads botocore at cold start.
        from teamledger.domain.callers import Actor
        from teamledger.http.auth import authenticate

        # routeKey is "<METHOD> <path template>" as API Gateway routed it ("$default" if none).
        route = str(event.get("routeKey") or "").partition(" ")[2] or None
        caller = authenticate(headers.get("authorization"), route)
        actor = Actor(caller, headers.get(CHANGED_BY_HEADER) or caller.user_id)
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    if method.upper() in BODILESS_METHODS:
        event["body"], event["isBase64Encoded"] = None, False
    else:
        screen_body(event)
    if actor is not None:
        screen_changed_by(headers.get(CHANGED_BY_HEADER))
    return actor


def screen_changed_by(value: str | None) -> None:
    """The changer's name goes into every audit record's GSI9 partition key: on every route
    (a read too), at most CHANGED_BY_BYTES, or 422 before anything is read or written."""
    if value and sizes.utf8_size(value) > sizes.CHANGED_BY_BYTES:
        raise InvalidHeader(CHANGED_BY_HEADER, f"String should have at most "
                            f"{sizes.CHANGED_BY_BYTES} bytes in UTF-8", "string_too_long")


def _raw_response(status: int, body: Body) -> dict[str, Any]:
    return render(_json_response(status, body))


def _resolve(app: ServiceApp, event: Event, context: Any, actor: "Actor | None") -> dict[str, Any]:
    idempotency_key = (event.get("headers") or {}).get(IDEMPOTENCY_HEADER)
    if idempotency_key is None:
        return app.resolve(event, actor)
    if actor is None:  # a public route has no caller token to scope the key by: a 500
        raise RuntimeError("An idempotent route must not be public")
    from teamledger.http.idempotency import answer_once

    return answer_once(event, context, actor.caller.token, idempotency_key,
                       lambda: app.resolve(event, actor))


def _prepare(app: ServiceApp) -> None:
    """Before a SnapStart snapshot: what the first request would do (validators, client)."""
    from teamledger.http import compiled
    from teamledger.store.client import client

    for route in app.routes:
        route.prepare()
    compiled.prepare()
    client()


def lambda_entry(app: ServiceApp, *, public: bool = False,
                 idempotent: bool = False) -> RouteHandler:
    """The Lambda handler of one route function: admit (auth, body), then resolve; with
    `idempotent`, a request with an `Idempotency-Key` header is answered once per key."""

    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @traced
    # The cold-start count is the metric API Gateway cannot give. (A per-request metric
    # would pile up when metrics are disabled locally: Powertools 3.37 then never clears
    # its set and prints it every 100 values.)
    @metrics.log_metrics(raise_on_empty_metrics=False, capture_cold_start_metric=True)
    def lambda_handler(event: Event, context: Any) -> dict[str, Any]:
        # Log lines name the route by its template (`POST /key/{key}/regenerate`), never the
        # path or query as sent: those may hold a raw key.
        logger.append_keys(route=event.get("routeKey"))
        try:
            actor = _admit(event, public)
        except ServiceError as error:
            return _raw_response(error.status, error_body(error))
        except Exception:  # the table unreachable during auth: still a JSON answer
            logger.exception("Unhandled error before routing")
            return _raw_response(500, unexpected_error_body())
        if not idempotent:
            return app.resolve(event, actor)
        try:
            return _resolve(app, event, context, actor)
        except ServiceError as error:
            return _raw_response(error.status, error_body(error))
        except Exception:  # from the idempotency store (the resolver answers its own errors)
            logger.exception("Unhandled error around the idempotent route")
            return _raw_response(500, unexpected_error_body())

    if not public:
        snapstart.on_snapshot(lambda: _prepare(app))
    lambda_handler.idempotent = idempotent  # read by the OpenAPI generator
    # Powertools' decorators are typed as returning Any; this is the handler they return.
    handler: RouteHandler = lambda_handler
    return handler
