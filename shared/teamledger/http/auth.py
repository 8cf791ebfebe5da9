"""Bearer key -> Caller. One consistent GetItem on the key's token, plus the team's gate for a
team key and its user's role (a GetItem of the user row) for a user key; the master key never
touches the table (its sha256 is compared in constant time).

A master key under MIN_MASTER_KEY_BITS (estimated_bits) is refused by a deployed function:
every request answers 503 and the log says why. Under `make dev` and `sam local` (LOCAL_DEV)
it is accepted with a warning in the log."""

import hmac
import math
import string
import zlib
from collections import Counter
from functools import lru_cache

from aws_lambda_powertools import Logger

from teamledger.config import settings
from teamledger.domain.callers import (
    DEFAULT_USER_ID,
    PROXY_ADMIN,
    Caller,
    key_refusal,
    team_refusal,
    token_of,
)
from teamledger.errors import Misconfigured, Unauthorized
from teamledger.store import stores
from teamledger.store.teams import ACTIVE
from teamledger.timestamps import to_iso, utcnow

_IS = {"blocked": "is blocked", "expired": "has expired"}
MIN_MASTER_KEY_BITS = 128
KEY_PREFIX = "sk-"  # every key's: it carries no entropy
_CLASSES = ((frozenset(string.ascii_lowercase), 26), (frozenset(string.ascii_uppercase), 26),
            (frozenset(string.digits), 10))
_OTHER_CHARACTERS = 33  # printable ASCII punctuation and space: any other character counts so
_ZLIB_OVERHEAD = len(zlib.compress(b"", 9))  # header and checksum: what nothing compresses to
WEAK_MASTER_KEY = ("The service is not configured correctly: its master key is too weak. "
                   "Its operator should check the logs.")

logger = Logger()


def estimated_bits(key: str) -> float:
    """A conservative estimate of a key's entropy in bits: its length without the `sk-` prefix
    (or, if shorter, the bytes zlib compresses it to, so a repeated pattern counts once) times
    the smaller of two figures per character: log2 of the alphabet its character classes make
    (a-z 26, A-Z 26, 0-9 10, anything else 33), and the Shannon entropy of its own character
    frequencies (a few characters, or one used over and over, count for what they are)."""
    body = key.removeprefix(KEY_PREFIX)
    if not body:
        return 0.0
    alphabet = sum(size for chars, size in _CLASSES if not chars.isdisjoint(body))
    if any(not any(c in chars for chars, _ in _CLASSES) for c in body):
        alphabet += _OTHER_CHARACTERS
    frequencies = [n / len(body) for n in Counter(body).values()]
    shannon = -sum(p * math.log2(p) for p in frequencies)
    compressed = len(zlib.compress(body.encode(), 9)) - _ZLIB_OVERHEAD
    return min(len(body), compressed) * max(0.0, min(math.log2(alphabet), shannon))


@lru_cache(maxsize=4)
def _judged(raw_key: str) -> tuple[str, float]:
    """A master key's token and estimated bits; a weak one is logged once per key and
    execution environment (never the key, nor anything it could be found from)."""
    bits = estimated_bits(raw_key)
    if bits < MIN_MASTER_KEY_BITS:
        if settings().local_dev:
            logger.warning(f"Weak master key: about {bits:.0f} bits of entropy, under "
                           f"{MIN_MASTER_KEY_BITS}. Accepted only because LOCAL_DEV is set "
                           "(make dev, sam local); a deployed function refuses it.")
        else:
            logger.error(f"Master key refused: about {bits:.0f} bits of entropy, under "
                         f"{MIN_MASTER_KEY_BITS}. Every request answers 503 until the secret "
                         "MasterKeySecret (or MASTER_KEY) holds a random key of at least "
                         f"{MIN_MASTER_KEY_BITS} bits, e.g. sk- and 43 URL-safe random "
                         "characters (python3 -c 'import secrets; print(\"sk-\" + "
                         "secrets.token_urlsafe(32))').")
    return token_of(raw_key), bits


@lru_cache(maxsize=1)
def _master_token_from_environment() -> tuple[str, float] | None:
    key = settings().master_key
    return _judged(key) if key else None


def master_token() -> str | None:
    """The master key's token; Misconfigured (503) if the key is too weak for a deployed
    function."""
    judged = _master_token_from_environment()
    secret_name = settings().master_key_secret_name
    if not judged and secret_name:
        # Imported here: only deployed functions read the secret, and only on their first
        # request.
        from aws_lambda_powertools.utilities.parameters import get_secret

        judged = _judged(str(get_secret(secret_name, max_age=300)).strip())
    if not judged:
        return None
    token, bits = judged
    if bits < MIN_MASTER_KEY_BITS and not settings().local_dev:
        raise Misconfigured(WEAK_MASTER_KEY)
    return token


def bearer_key(authorization: str | None) -> str:
    value = (authorization or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value:
        raise Unauthorized("Authentication Error, no api key passed in.")
    return value


def authenticate(authorization: str | None, route: str | None = None) -> Caller:
    master = master_token()  # first: a weak master key refuses every request alike
    token = token_of(bearer_key(authorization))
    if master and hmac.compare_digest(token, master):
        return Caller(token=token, user_id=DEFAULT_USER_ID, role=PROXY_ADMIN, is_master=True,
                      route=route)
    key = stores().keys.for_auth(token)
    if key is None:
        raise Unauthorized("Authentication Error, invalid api key.")
    refusal = key_refusal(key, to_iso(utcnow()))
    if refusal:
        raise Unauthorized(f"Authentication Error, this key {_IS[refusal]}.")
    if key.get("team_id"):
        _require_active_team(key["team_id"])
    # The role is read from the user's row, never from a copy on the key: a changed role
    # binds at once on every key, and a key whose user has no row has no role.
    role = stores().users.role_of(key["user_id"]) if key.get("user_id") else None
    return Caller(token=token, user_id=key.get("user_id"), role=role,
                  team_id=key.get("team_id"), route=route,
                  allowed_routes=tuple(key.get("allowed_routes") or ()))


def _require_active_team(team_id: str) -> None:
    refusal = team_refusal(stores().teams.gate(team_id), ACTIVE)
    if refusal == "gone":
        raise Unauthorized("Authentication Error, this key's team no longer exists.")
    if refusal:
        raise Unauthorized(f"Authentication Error, team {team_id} is blocked.")
