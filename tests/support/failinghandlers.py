"""Lambda handlers that fail the ways a function can: by raising, and by its runtime process
dying. The route functions never do either on purpose; the tests of the dev server's worker
processes (tests/support/devworkers.py) need both."""

import os
from typing import Any


def answers(event: Any, context: Any) -> dict:
    return {"event": event, "pid": os.getpid()}


def raises(event: Any, context: Any) -> dict:
    raise RuntimeError(f"failing on purpose for {event!r}")


def dies(event: Any, context: Any) -> dict:
    # No cleanup and no answer, as an out-of-memory kill or a crash in C ends a runtime.
    os._exit(3)
