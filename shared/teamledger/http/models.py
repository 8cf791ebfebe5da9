"""The HTTP API's request and response models, as the layer uses them: declared with pydantic
in teamledger.http.declared, and compiled ahead in a built layer (teamledger.http.compiled:
the same validators, without importing pydantic at a cold start)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from teamledger.http.declared import *  # noqa: F403
else:
    from teamledger.http import compiled as _compiled

    _loaded = _compiled.models()
    if _loaded is None:
        from teamledger.http.declared import *  # noqa: F403
    else:
        globals().update(_loaded)
