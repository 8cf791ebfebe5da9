"""How LiteLLM's client reports an answer that is not a 200: as exceptions of its own or of
requests. The tests compare statuses, which is what a user reads off those exceptions."""

from collections.abc import Callable

import requests
from litellm.proxy.client.exceptions import NotFoundError, UnauthorizedError


def status_of(call: Callable[[], object]) -> int:
    """The HTTP status the client met running `call` (200 when it returned an answer)."""
    try:
        call()
    except UnauthorizedError:
        return 401
    except NotFoundError:
        return 404
    except requests.HTTPError as error:
        return error.response.status_code
    return 200


def member(user_id: str, role: str = "user") -> dict:
    return {"user_id": user_id, "role": role}
