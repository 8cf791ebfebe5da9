"""The one error hierarchy of the layer; api.py maps it to HTTP in one place."""


class ServiceError(Exception):
    status = 500

    def __init__(self, message: str, **fields: object):
        super().__init__(message)
        self.message = message
        self.fields = fields  # more of the answer's `detail`, beside `error` (e.g. `type`)


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class OverBudget(ServiceError):
    """A budget would be passed (429, as OpenAI answers an exhausted quota)."""

    status = 429


class PayloadTooLarge(ServiceError):
    status = 413


class InvalidBody(ServiceError):
    """A body that cannot be JSON at all: reported like any other request-shape error (422)."""

    status = 422


class InvalidHeader(ServiceError):
    """A request header that does not fit: reported like any other request-shape error (422)."""

    status = 422

    def __init__(self, header: str, message: str, kind: str):
        super().__init__(message)
        self.header, self.kind = header, kind


class InProgress(ServiceError):
    """The first request with this Idempotency-Key is still running; the caller may retry."""

    status = 409


class Busy(ServiceError):
    """Optimistic retries ran out under contention; the caller may retry."""

    status = 503


class Misconfigured(ServiceError):
    """The deployment cannot serve safely (a weak master key): every request is refused until
    its operator fixes it; the logs say what."""

    status = 503


class TransactionCancelled(Exception):
    """A lost race, not a client error (kept here, free of botocore, for api.py). The
    transaction committed nothing; `reasons[i]` is the code for item i ('None' = ok)."""

    def __init__(self, reasons: list[str]):
        super().__init__(", ".join(reasons))
        self.reasons = reasons

    @property
    def conflicted(self) -> bool:
        return "TransactionConflict" in self.reasons

    @property
    def retryable(self) -> bool:
        """Nothing but lost races: starting again from the reads can succeed."""
        return all(r in ("None", "ConditionalCheckFailed", "TransactionConflict")
                   for r in self.reasons)

    def failed_at(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"
