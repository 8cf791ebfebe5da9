"""Where a route parameter comes from, and its constraints: `Annotated[int, Query(ge=1)]`.

The markers are plain records, cheap at import (a cold start pays for every module a function
imports). The router (teamledger.http.app) turns them into pydantic fields on a route's first
request; tests/support/openapi.py turns them into Powertools' markers to describe the API.
"""

from typing import Any


class Param:
    """A route parameter's source and its pydantic Field constraints (ge, le, max_length...)."""

    source = ""

    def __init__(self, **constraints: Any) -> None:
        self.constraints = constraints

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.constraints})"


class Query(Param):
    source = "query"


class Path(Param):
    source = "path"


class Body(Param):
    source = "body"
