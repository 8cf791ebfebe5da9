"""One botocore client per execution environment, and the one place AWS errors that mean
"try again later" become `Busy` (a 503 the caller may retry).

botocore is used directly (no boto3 resource layer) because it is what a cold start pays for.
"""

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from teamledger.config import settings
from teamledger.errors import Busy

# TransactionInProgressException: botocore's retry of a transaction (same ClientRequestToken)
# reached DynamoDB while the first attempt was still being applied; the outcome is unknown.
BUSY_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                        "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
                        "TransactionInProgressException"})


def aws_client(service: str, endpoint_url: str | None) -> Any:
    """A botocore client with the layer's timeouts and retries (shared by every AWS call)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2,
                    read_timeout=5, tcp_keepalive=True)
    return botocore.session.get_session().create_client(
        service, endpoint_url=endpoint_url, config=config)


@lru_cache(maxsize=1)
def client() -> Any:
    return aws_client("dynamodb", settings().dynamodb_endpoint)


def table_name() -> str:
    return settings().table_name


def call(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """One DynamoDB call; throttling and timeouts (after botocore's retries) are `Busy`."""
    method: Callable[..., dict[str, Any]] = getattr(client(), operation)
    try:
        return method(**request)
    except ClientError as error:
        if error_code(error) in BUSY_CODES:
            raise Busy("The table is busy; please retry") from error
        raise
    except (BotocoreConnectionError, HTTPClientError) as error:  # timeouts; after retries
        raise Busy("The table did not answer in time; please retry") from error


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
