"""The checks the API's models run beyond their types, as importable names: a compiled model
(teamledger.http.compiled) refers to them by module and name, so they can be neither lambdas
nor closures, and they import no pydantic (only pydantic-core's error)."""

from pydantic_core import PydanticCustomError

from teamledger import sizes

# A team's `team_member_permissions` when none is set (LiteLLM's default).
DEFAULT_MEMBER_PERMISSIONS = ("/key/info", "/key/list")


class AtMostBytes:
    """Text of at most `limit` UTF-8 bytes (keys are measured in bytes, not characters)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, text: str) -> str:
        if sizes.utf8_size(text) > self.limit:
            raise PydanticCustomError("string_too_long",
                                      "String should have at most {max_bytes} bytes in UTF-8",
                                      {"max_bytes": self.limit})
        return text

    def __repr__(self) -> str:
        return f"AtMostBytes({self.limit})"


def each_once(values: list[str]) -> list[str]:
    """Each value once, in the order first sent."""
    return list(dict.fromkeys(values))


def default_member_permissions() -> list[str]:
    return list(DEFAULT_MEMBER_PERMISSIONS)
