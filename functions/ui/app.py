"""GET /ui and GET /ui/{proxy+}: the admin console's static files, without a key.

The page holds the key and sends it to the API; these routes only serve files. Plain standard
library, no Powertools, pydantic or botocore: this function never calls AWS, and a browser
waits on its cold start. The files are read once per execution environment into an allowlist
by name, so a path can only ever name one of them (no traversal: `..` is no name in it).
"""

import hashlib
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
         ".txt": "text/plain; charset=utf-8"}
# Nothing inline, nothing from elsewhere: the page talks to its own origin only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
# The page is revalidated each time (a deploy shows at once); its files are cached briefly and
# revalidated by ETag after that.
INDEX_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=300"


def _load() -> dict[str, tuple[bytes, str, str]]:
    """Each servable file by its name under static/: (body, content type, ETag)."""
    found = {}
    for path in sorted(STATIC.rglob("*")):
        content_type = TYPES.get(path.suffix)
        if path.is_file() and content_type:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            found[path.relative_to(STATIC).as_posix()] = (body, content_type, etag)
    return found


FILES = _load()


def _answer(status: int, headers: dict[str, str], body: str = "") -> dict[str, Any]:
    return {"statusCode": status, "headers": SECURITY_HEADERS | headers, "body": body,
            "isBase64Encoded": False}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    name = ((event.get("pathParameters") or {}).get("proxy") or "").strip("/") or INDEX
    found = FILES.get(name)
    if found is None:
        return _answer(404, {"Content-Type": TYPES[".txt"], "Cache-Control": "no-store"},
                       "Not found")
    body, content_type, etag = found
    cache = INDEX_CACHE if name == INDEX else ASSET_CACHE
    headers = {"Content-Type": content_type, "Cache-Control": cache, "ETag": etag}
    if etag in str((event.get("headers") or {}).get("if-none-match") or ""):
        return _answer(304, headers)
    return _answer(200, headers, body.decode("utf-8"))
