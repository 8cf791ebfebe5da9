"""The plugin's one TeamLedger client and price book per process, made on first use, so a
proxy starts even before TEAMLEDGER_URL is right (every call is then refused, saying why)."""

from __future__ import annotations

from teamledger_litellm.client import TeamLedger
from teamledger_litellm.estimate import PriceBook
from teamledger_litellm.settings import Settings

_current: tuple[TeamLedger, PriceBook] | None = None


def runtime() -> tuple[TeamLedger, PriceBook]:
    """Raises SettingsError (a ValueError) while the settings are wrong."""
    global _current
    if _current is None:
        settings = Settings.from_env()
        _current = (TeamLedger(settings), PriceBook(settings))
    return _current


def reset(ledger: TeamLedger | None = None, prices: PriceBook | None = None) -> None:
    """Forget the current client (tests; or set the one to use)."""
    global _current
    _current = (ledger, prices) if ledger is not None and prices is not None else None
