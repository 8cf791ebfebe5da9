"""One botocore client per execution environment, and the one place AWS errors that mean
"try again later" become `Busy` (a 503 the caller may retry).

botocore is used directly (no boto3 resource layer) because it is what a cold start pays for.
"""

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from teamledger.config import settings
from teamledger.errors import BadRequest, Busy

# TransactionInProgressException: botocore's retry of a transaction (same ClientRequestToken)
# reached DynamoDB while the first attempt was still being applied; the outcome is unknown.
BUSY_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                        "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
                        "TransactionInProgressException"})
# DynamoDB's refusals for size, should one come that the store's own reckoning did not
# foresee (table.Transaction refuses what it can reckon before sending): a 400, never a 500.
TOO_LARGE = ("This change is too large to store: an item would be over DynamoDB's 400 KB. "
             "Store less in metadata, models or model_aliases")
TOO_LARGE_TOGETHER = ("These changes are too large for one transaction (over DynamoDB's 4 MB "
                      "together): name fewer objects in one request")
TOO_MANY_TOGETHER = ("This change takes more writes than one transaction holds (DynamoDB's 100): "
                     "name fewer objects in one request")


class _ServiceDirectories(botocore.loaders.Loader):
    """botocore's data loader, but a service's name is checked against the data directories'
    names alone. botocore's own check lists every API version of every service (about 900
    directory reads) to create the first client: a third of a client's cost at cold start.
    A name that is a directory without the model asked for still fails, when it is loaded."""

    @botocore.loaders.instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        names: set[str] = set()
        for path in self.search_paths:
            try:
                names.update(os.listdir(path))
            except OSError:  # a search path that does not exist (~/.aws/models)
                continue
        return sorted(names)


def _session(file_loader: Any = None) -> botocore.session.Session:
    """A botocore session whose loader checks service names cheaply and reads botocore's data
    files from the build's cache (store/botocore_data.py) where it has them."""
    from teamledger.store.botocore_data import CachedDataFiles

    session = botocore.session.get_session()
    # As botocore's own create_loader: AWS_DATA_PATH's directories searched first.
    data_path = session.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(path))
             for path in data_path.split(os.pathsep)] if data_path else []
    session.register_component("data_loader", _ServiceDirectories(
        extra_search_paths=extra, file_loader=file_loader or CachedDataFiles()))
    return session


def aws_client(service: str, endpoint_url: str | None) -> Any:
    """A botocore client with the layer's timeouts and retries (shared by every AWS call)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2,
                    read_timeout=5, tcp_keepalive=True)
    return _session().create_client(service, endpoint_url=endpoint_url, config=config)


@lru_cache(maxsize=1)
def client() -> Any:
    return aws_client("dynamodb", settings().dynamodb_endpoint)


def drop_connections() -> None:
    """Close the client's pooled connections, if it was made (after a SnapStart restore: they
    were the snapshotted environment's); the next call opens a new one."""
    if client.cache_info().currsize:
        client()._endpoint.http_session.close()


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
        if error_code(error) == "ValidationException" and too_large(error_message(error)):
            together = "larger than" in error_message(error)
            raise BadRequest(TOO_LARGE_TOGETHER if together else TOO_LARGE) from error
        raise
    except (BotocoreConnectionError, HTTPClientError) as error:  # timeouts; after retries
        raise Busy("The table did not answer in time; please retry") from error


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def too_large(message: str) -> bool:
    """Whether DynamoDB refused something for its size: an item ("Item size has exceeded",
    "Item size to update has exceeded"), a key ("Size of hashkey has exceeded", "Aggregated
    size of all range keys has exceeded") or a request ("... cannot be larger than ...")."""
    text = message.lower()
    return ("size" in text and "exceeded" in text) or "larger than" in text
