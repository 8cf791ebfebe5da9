"""The Lambda handler of a stream consumer (the audit publisher, the spend order): Logger,
tracing and Metrics around it, as http/app.lambda_entry does for the routes. The event is never
logged. Kept apart from the consumers so each imports only its own work."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

from teamledger.tracing import traced

# The function's handler, whatever it answers (lambda_entry keeps its exact type).
HandlerT = TypeVar("HandlerT", bound=Callable[[dict[str, Any], Any], Any])

logger = Logger()
metrics = Metrics()


def lambda_entry(handler: HandlerT) -> HandlerT:
    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @traced
    @metrics.log_metrics(raise_on_empty_metrics=False, capture_cold_start_metric=True)
    @wraps(handler)
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    # Powertools' decorators are typed as returning Any; the handler keeps its call and answer.
    wrapped: HandlerT = lambda_handler
    return wrapped
