"""API Gateway HTTP API (payload format 2.0) events and Lambda contexts, built as AWS builds them.

Reference: "Create AWS Lambda proxy integrations for HTTP APIs in API Gateway" (payload format
version 2.0) and Powertools' `APIGatewayProxyEventV2`, which reads these events in the handlers.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
API_ID = "teamledgerlocal"
DOMAIN_NAME = f"{API_ID}.execute-api.{REGION}.amazonaws.com"

# strftime's %b follows the locale; API Gateway always writes English month names.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Measured against AWS: an HTTP API passes these bodies as text and base64-encodes every other
# content type, a missing one and application/x-www-form-urlencoded included.
_TEXT_CONTENT_TYPES = ("application/json", "application/xml", "application/javascript")

HeaderInput = Mapping[str, str | list[str]] | Iterable[tuple[str, str]]
QueryInput = str | Mapping[str, str | list[str]] | Iterable[tuple[str, str]]
BodyInput = dict | list | str | bytes


def http_event(
    method: str,
    path: str,
    *,
    headers: HeaderInput | None = None,
    query: QueryInput | None = None,
    body: BodyInput | None = None,
    is_base64: bool = False,
    stage: str = "$default",
    source_ip: str = "127.0.0.1",
    cookies: list[str] | None = None,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict:
    """The event an HTTP API route `<method> <path>` sends to its Lambda integration.

    `query` is a raw query string (passed through as the client sent it), a mapping (list values
    repeat the key) or a list of pairs. `body` given as dict/list is sent as JSON. Bytes that are
    not UTF-8, or any body with `is_base64`, arrive base64-encoded with `isBase64Encoded: true`.
    A `cookie` header moves to `cookies`, as API Gateway does. With a named `stage` the raw path
    starts with `/<stage>`, as it does on the stage's default endpoint. A route with path
    parameters (`route` = its template, `/key/{key}/regenerate`) has the template in its
    `routeKey` and the values in `pathParameters`, as API Gateway sends them.
    """
    method = method.upper()
    header_map = _joined_headers(headers)
    body_text, body_is_base64 = _encoded_body(body, is_base64, header_map)
    cookie_list = _cookies(cookies, header_map.pop("cookie", None))
    raw_query = _raw_query_string(query)
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    request_id = str(uuid.uuid4())
    _add_gateway_headers(header_map, body_text, source_ip)

    route_key = f"{method} {route or path}"
    event: dict = {"version": "2.0", "routeKey": route_key, "rawPath": raw_path}
    event["rawQueryString"] = raw_query
    if cookie_list:
        event["cookies"] = cookie_list
    event["headers"] = header_map
    if raw_query:
        event["queryStringParameters"] = _query_parameters(raw_query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = _request_context(
        method, raw_path, route_key, stage, source_ip, header_map, request_id
    )
    if body_text is not None:
        event["body"] = body_text
    event["isBase64Encoded"] = body_is_base64
    return event


def path_parameters(template: str, path: str) -> dict[str, str] | None:
    """The path parameters of `path` under a route's path template (`/key/{key}/regenerate`:
    each `{name}` one whole segment; a greedy `{name+}` the rest of the path, slashes
    included; percent-decoded), or None if the path is not the route's."""
    names = re.findall(r"{(\w+)\+?}", template)
    if not names:
        return {} if template == path else None
    pattern = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if re.fullmatch(r"{\w+}", part)
        else f"(?P<{part[1:-2]}>.+)" if re.fullmatch(r"{\w+\+}", part)
        else re.escape(part) for part in re.split(r"({\w+\+?})", template))
    found = re.fullmatch(pattern, path)
    if found is None:
        return None
    return {name: unquote(value) for name, value in found.groupdict().items()}


def api_gateway_sends_as_text(content_type: str | None) -> bool:
    """Whether an HTTP API passes a request body of this content type as text (else base64)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_CONTENT_TYPES


def _joined_headers(headers: HeaderInput | None) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    joined: dict[str, list[str]] = {}
    for name, value in pairs:
        values = value if isinstance(value, list) else [value]
        joined.setdefault(name.lower(), []).extend(str(item) for item in values)
    return {name: ",".join(values) for name, values in joined.items()}


def _encoded_body(
    body: BodyInput | None, is_base64: bool, headers: dict[str, str]
) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    if isinstance(body, dict | list):
        headers.setdefault("content-type", "application/json")
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else bytes(body)
    if not is_base64:
        try:
            return raw.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), True


def _cookies(cookies: list[str] | None, cookie_header: str | None) -> list[str]:
    from_header = [part.strip() for part in (cookie_header or "").split(";") if part.strip()]
    return [*(cookies or []), *from_header]


def _raw_query_string(query: QueryInput | None) -> str:
    if query is None or isinstance(query, str):
        return query or ""
    pairs = query.items() if isinstance(query, Mapping) else query
    return urlencode(list(pairs), doseq=True)


def _query_parameters(raw_query: str) -> dict[str, str]:
    joined: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        joined.setdefault(name, []).append(value)
    return {name: ",".join(values) for name, values in joined.items()}


def _add_gateway_headers(headers: dict[str, str], body: str | None, source_ip: str) -> None:
    # API Gateway adds these on every request; code that reads them sees the same in tests.
    headers.setdefault("host", DOMAIN_NAME)
    headers.setdefault("x-forwarded-for", source_ip)
    headers.setdefault("x-forwarded-port", "443")
    headers.setdefault("x-forwarded-proto", "https")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    if body is not None:
        headers.setdefault("content-length", str(len(body.encode())))


def _request_context(
    method: str,
    raw_path: str,
    route_key: str,
    stage: str,
    source_ip: str,
    headers: dict[str, str],
    request_id: str,
) -> dict:
    now = time.time()
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": DOMAIN_NAME,
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": _clf_time(now),
        "timeEpoch": int(now * 1000),
    }


def _clf_time(epoch_seconds: float) -> str:
    utc = time.gmtime(epoch_seconds)
    month = _MONTHS[utc.tm_mon - 1]
    return f"{utc.tm_mday:02d}/{month}/{utc.tm_year}:{time.strftime('%H:%M:%S', utc)} +0000"


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that Powertools and handlers read."""

    function_name: str = "test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_millis: int = 10_000
    identity: None = None
    client_context: None = None
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""

    def __post_init__(self) -> None:
        self.invoked_function_arn = self.invoked_function_arn or (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        )
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or (
            f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_millis


def lambda_context(function_name: str = "test") -> LambdaContext:
    """A fresh context for one invocation of `function_name` (a new aws_request_id each time)."""
    return LambdaContext(function_name=function_name)
