"""`make dev`: every route of template.yaml on http://127.0.0.1:$PORT, backed by a local moto.

Each HTTP request becomes the API Gateway HTTP API (payload 2.0) event Lambda would get, goes to
that route's `lambda_handler`, and the handler's result goes back the way API Gateway returns it.

    PORT=3000 .venv/bin/python -m tests.support.devserver

Environment read: PORT (3000), AWS_ENDPOINT_URL (unset: a moto server is started on loopback),
TABLE_NAME (teamledger), MASTER_KEY (unset: a random one, printed; a weak one is accepted with a
loud warning, since the handlers get LOCAL_DEV=true, where a deployed function refuses it),
AVAILABLE_TEAMS, AUDIT_CARRIER (sqs-fifo: the FIFO queue teamledger-audit.fifo, as a stack
deploys by default; kinesis: the stream AUDIT_STREAM_NAME, teamledger-audit),
BUDGET_RESET_INTERVAL (60: seconds between budget resets), DATA_DIR (.devserver/data, relative
to the repo root; empty: keep nothing), WORKERS (4).

The handlers run in up to WORKERS worker processes (tests/support/devworkers.py), one invocation
at a time each, as Lambda runs concurrent invocations in separate execution environments: with
more than one, concurrent requests race for real. WORKERS=0 runs them in this process instead,
one at a time under the invocation lock (a breakpoint in a handler works there). The HTTP
server, its access log, moto and its journal stay in this process. Every answer a handler gave
carries `x-dev-worker: <pid>`, the process that ran it: a dev-server-only header (API Gateway
sends none) by which tests see that requests ran in different processes.

The stream poller and the budget-reset schedule are not request-driven and stay in this process,
under the invocation lock: they run Powertools handlers too (the audit publisher, the reset),
so neither may run beside the other, nor, with WORKERS=0, beside a request. They never race
with themselves, as a stream shard's batches and a schedule's runs do not in Lambda.

Its moto keeps its data in DATA_DIR, written through (tests/support/devdata.py says how), so a
restart, even after a kill -9, finds every change a client was answered; `make dev-reset`
empties it. Only `make dev` keeps data: `start_in_thread()` starts a fresh moto unless given a
data_dir, and the servers of tests/support/devprocess.py (e2e tests, `make load`, `make fuzz`)
run with DATA_DIR empty. With AWS_ENDPOINT_URL, the data is that endpoint's to keep.

The console holds the banner, then one access line per request (and what goes wrong): the
Powertools metrics (EMF JSON, meant for CloudWatch) are off and its warning about that is muted.

It also creates the audit carrier (the FIFO queue, or the Kinesis stream) and polls the table's
stream into the functions of the template's DynamoDB events (the audit publisher) as their
event-source mapping would. Where its endpoint and carrier are goes to `.devserver/<PORT>.json`
(tests/support/devstate.py) for `make audit-tail`.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider import cold_start

from tests.support import devdata, devstate, devworkers
from tests.support.apigw import (
    api_gateway_sends_as_text,
    http_event,
    lambda_context,
    path_parameters,
)
from tests.support.resetbudgets import ResetSchedule
from tests.support.streams import QueueDeadLetters, StreamPoller
from tests.support.template import (
    REPO_ROOT,
    Route,
    create_fifo_queue,
    create_queue,
    create_stream,
    create_table,
    load_template,
    routes,
    stream_consumers,
    table_layout,
)

if TYPE_CHECKING:
    from tests.support import moto_server

DEFAULT_PORT = 3000
DEFAULT_TABLE_NAME = "teamledger"
DEFAULT_DATA_DIR = ".devserver/data"  # relative to the repo root, as `make dev-reset` has it
HOST = "127.0.0.1"
# API Gateway HTTP API refuses larger payloads with 413 before Lambda is called.
MAX_BODY_BYTES = 10 * 1024 * 1024

# The pid of the process that ran the handler, on each answer a handler gave (dev server only).
WORKER_HEADER = "x-dev-worker"
DEFAULT_WORKERS = 4

# Connection-level headers end at API Gateway; the integration never sees them.
HOP_BY_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "expect", "trailer"}
)


class InvocationLock:
    """One invocation at a time in the process, each starting with no metrics held.

    Powertools keeps the current event on a class attribute (BaseRouter.current_event) and
    shares Logger/Metrics state across the process, so two handlers running at once in one
    process would read each other's requests. Lambda runs one invocation per execution
    environment at a time; this lock gives the process the same rule (the background tasks',
    and the requests' with WORKERS=0; a worker process runs one at a time by itself). HTTP
    parsing and writing stay concurrent.

    With POWERTOOLS_METRICS_DISABLED, Powertools never clears its metric set, and prints it
    (EMF JSON) once a metric holds 100 values; Lambda's flush would have cleared it after each
    invocation, so the lock does that on release.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics = Metrics()  # its metric set is the one every Metrics() shares

    def __enter__(self) -> InvocationLock:
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._metrics.clear_metrics()
        finally:
            self._lock.release()


_INVOCATION_LOCK = InvocationLock()

access_log = logging.getLogger("teamledger.devserver")


class BackgroundTask(Protocol):
    """Something that runs beside the HTTP server (the stream poller, the reset schedule)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class RouteTable:
    """The template's routes, invoked in the worker pool's processes or, without one, in this
    process; each handler module is imported on its first request (in a process) only."""

    def __init__(self, route_list: list[Route], workers: devworkers.WorkerPool | None = None):
        self._routes = {(route.method, route.path): route for route in route_list}
        self._handlers: dict[Route, Callable[[dict, Any], Any]] = {}
        self._workers = workers

    def match(self, method: str, path: str) -> Route | None:
        """The route of a request, as API Gateway picks it: an exact path first, then a path
        template whose `{name}` segments take the path's (`/key/{key}/regenerate`)."""
        exact = self._routes.get((method, path))
        if exact is not None:
            return exact
        return next((route for (m, _), route in self._routes.items()
                     if m == method and "{" in route.path
                     and path_parameters(route.path, path) is not None), None)

    def invoke(self, route: Route, event: dict) -> tuple[Any, int]:
        """The handler's result and the pid of the process that ran it."""
        if self._workers is not None:
            return self._workers.invoke(route.module, route.handler, route.function, event)
        with _INVOCATION_LOCK:
            handler = self._handlers.get(route)
            if handler is None:
                module = importlib.import_module(route.module)
                handler = self._handlers[route] = getattr(module, route.handler)
            return handler(event, lambda_context(function_name=route.function)), os.getpid()


def http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """What API Gateway makes of a Lambda result under payload format 2.0."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Without a statusCode, API Gateway sends the whole result as a 200 JSON body.
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    headers = [
        (str(name), str(value))
        for name, value in (result.get("headers") or {}).items()
        if str(name).lower() != "content-length"
    ]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, payload


def gateway_error(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """API Gateway's own error response, e.g. 404 `{"message":"Not Found"}`."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return status, [("content-type", "application/json")], body


class RequestTooLarge(Exception):
    """The request body is over API Gateway's payload limit."""


class ApiGatewayRequestHandler(BaseHTTPRequestHandler):
    """One HTTP request -> one v2 event -> one handler invocation -> one HTTP response."""

    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections close after this, so their threads do not pile up.
    timeout = 60
    server: ApiGatewayHttpServer

    def do_request(self) -> None:
        started = time.perf_counter()
        path, _, raw_query = self.path.partition("?")
        try:
            body = self._read_body()
        except RequestTooLarge:
            self.close_connection = True
            status, headers, payload = gateway_error(413, "Request Entity Too Large")
        except ValueError:
            self.close_connection = True
            status, headers, payload = gateway_error(400, "Bad Request")
        else:
            status, headers, payload = self._dispatch(path, raw_query, body)
        self._write_response(status, headers, payload)
        # The route's template, never the path or query as sent: either may carry a raw key
        # (/key/{key}/regenerate, /key/info?key=sk-...).
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info("%s %s %d %.1fms", self.command, self._logged_path(path), status,
                        elapsed_ms)

    def _logged_path(self, path: str) -> str:
        route = self.server.route_table.match(self.command, path)
        if route is not None:
            return route.path
        # No route: the path, with any segment that may be a key redacted.
        return "/".join("{redacted}" if unquote(part).lower().startswith("sk-") else part
                        for part in path.split("/"))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_request

    def _dispatch(
        self, path: str, raw_query: str, body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        route = self.server.route_table.match(self.command, path)
        if route is None:
            return gateway_error(404, "Not Found")
        # As on AWS: only text-like content types arrive as text, all others base64-encoded.
        as_text = api_gateway_sends_as_text(self.headers.get("content-type"))
        event = http_event(
            self.command,
            path,
            route=route.path,
            path_parameters=path_parameters(route.path, path),
            headers=[
                (name, value)
                for name, value in self.headers.items()
                if name.lower() not in HOP_BY_HOP_HEADERS
            ],
            query=raw_query,
            body=body,
            is_base64=not as_text,
            source_ip=self.client_address[0],
        )
        try:
            result, pid = self.server.route_table.invoke(route, event)
            status, headers, payload = http_response(result)
        except devworkers.PoolClosed:
            # Stopping: the connection is cut next; nothing failed that a log should show.
            return gateway_error(500, "Internal Server Error")
        except Exception as error:
            # A Lambda error: API Gateway answers 500; the traceback is what CloudWatch would hold
            # (a worker's comes as the error's message).
            details = (str(error) if isinstance(error, devworkers.InvocationFailed)
                       else traceback.format_exc())
            print(f"{route.function} failed:\n{details}", file=sys.stderr)
            return gateway_error(500, "Internal Server Error")
        return status, [*headers, (WORKER_HEADER, str(pid))], payload

    def _read_body(self) -> bytes | None:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked_body()
        else:
            length = int(self.headers.get("content-length") or 0)
            if length < 0:
                raise ValueError("negative content-length")
            if length > MAX_BODY_BYTES:
                raise RequestTooLarge
            body = self.rfile.read(length)
        return body or None

    def _read_chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while chunk_size := int(self.rfile.readline().split(b";", 1)[0].strip(), 16):
            size += chunk_size
            if size > MAX_BODY_BYTES:
                raise RequestTooLarge
            chunks.append(self.rfile.read(chunk_size))
            self.rfile.readline()
        while self.rfile.readline().strip():
            pass  # trailers
        return b"".join(chunks)

    def _write_response(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        self.send_header("date", self.date_time_string())
        self.send_header("content-length", str(len(body)))
        self.send_header("apigw-requestid", secrets.token_urlsafe(12))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The base class logs request lines (query strings, raw keys); do_request logs instead.
        pass


class ApiGatewayHttpServer(ThreadingHTTPServer):
    """A threaded HTTP server that can also cut its open keep-alive connections on stop."""

    daemon_threads = True
    # The default backlog of 5 drops connections when 50 clients connect at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], route_table: RouteTable):
        self.route_table = route_table
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._cut = False
        super().__init__(address, ApiGatewayRequestHandler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        # A request still running when stop() cut its connection fails to write its answer;
        # that broken pipe is the stop's doing, not a fault to print a traceback for.
        if not self._cut:
            super().handle_error(request, client_address)

    def close_open_connections(self) -> None:
        with self._connections_lock:
            self._cut = True
            connections = list(self._connections)
        for connection in connections:
            # A client may have closed it already.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class DevServer:
    """moto + the table + the HTTP server (+ background tasks), started and stopped together.

    `start()` sets process-wide environment variables (AWS_ENDPOINT_URL, dummy credentials,
    TABLE_NAME, MASTER_KEY, Powertools settings) because that is how the handlers read their
    configuration; `stop()` puts back the values it replaced.
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        master_key: str | None = None,
        *,
        own_moto: bool = False,
        data_dir: Path | None = None,
        workers: int = 0,
    ):
        self.port = port
        # Worker processes for the handlers (0: none, the handlers run in this process).
        self.workers = workers
        self._pool: devworkers.WorkerPool | None = None
        self.master_key = master_key
        self.master_key_generated = False
        self.own_moto = own_moto
        # Where the moto started here keeps its data (None: nowhere); see devdata.
        self.data_dir = data_dir
        self.journal: devdata.Journal | None = None
        self.endpoint_url: str | None = None
        self.table_name = DEFAULT_TABLE_NAME
        self.audit_stream_name = devstate.DEFAULT_AUDIT_STREAM_NAME
        self.audit_carrier = devstate.DEFAULT_AUDIT_CARRIER
        self.audit_queue_url = ""
        # start() adds the stream pollers and the budget reset schedule.
        self.background_tasks: list[BackgroundTask] = []
        self._moto: moto_server.ThreadedMotoServer | moto_server.JournaledMotoServer | None = None
        self._http: ApiGatewayHttpServer | None = None
        self._serving = threading.Event()
        self._replaced_env: dict[str, str | None] = {}

    @property
    def runs_moto(self) -> bool:
        return self._moto is not None

    @property
    def base_url(self) -> str:
        if self._http is None:
            raise RuntimeError("the server is not started")
        return f"http://{HOST}:{self._http.server_address[1]}"

    def start(self) -> None:
        template = load_template()
        layer_dirs = _put_layers_on_path(template)
        self._start_dynamodb_endpoint(template)
        self._configure_environment(template)
        self._create_audit_carrier(template)
        if self.workers:
            # The environment the handlers read, as configured above: the workers get it whole.
            self._pool = devworkers.WorkerPool(self.workers, dict(os.environ), layer_dirs)
            self._pool.start()
        table = create_table(boto3.client("dynamodb"), self.table_name, template)
        self.background_tasks += self._stream_pollers(template, table["LatestStreamArn"])
        self.background_tasks.append(ResetSchedule(_INVOCATION_LOCK))
        self._http = ApiGatewayHttpServer((HOST, self.port),
                                          RouteTable(routes(template), self._pool))
        for task in self.background_tasks:
            task.start()
        devstate.write(devstate.DevState(
            port=self._http.server_address[1], pid=os.getpid(), endpoint_url=self.endpoint_url,
            table_name=self.table_name, audit_stream_name=self.audit_stream_name,
            audit_carrier=self.audit_carrier, audit_queue_url=self.audit_queue_url))

    def _create_audit_carrier(self, template: dict) -> None:
        """The carrier AUDIT_CARRIER names, made from its template resource; the functions get
        its URL (the queue) or name (the stream), as the template gives them."""
        if self.audit_carrier == "kinesis":
            create_stream(boto3.client("kinesis"), self.audit_stream_name, template)
            return
        self.audit_queue_url = create_fifo_queue(
            boto3.client("sqs"), devstate.DEFAULT_AUDIT_QUEUE_NAME, template)
        self._set_env("AUDIT_QUEUE_URL", self.audit_queue_url)

    def _stream_pollers(self, template: dict, stream_arn: str) -> list[BackgroundTask]:
        """One poller per stream consumer of the table; a consumer with an on-failure
        destination gets that SQS queue, made on this moto under its logical id."""
        client, sqs = boto3.client("dynamodbstreams"), boto3.client("sqs")
        return [StreamPoller(consumer, client, stream_arn, _INVOCATION_LOCK, dead_letters=(
                    QueueDeadLetters(sqs, create_queue(sqs, consumer.on_failure))
                    if consumer.on_failure else None))
                for consumer in stream_consumers(template) if consumer.table == "Table"]

    def serve_forever(self) -> None:
        if self._http is None:
            raise RuntimeError("start() first")
        self._serving.set()
        self._http.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        for task in reversed(self.background_tasks):
            task.stop()
        if self._http is not None:
            devstate.remove(self._http.server_address[1], os.getpid())
            # shutdown() waits for serve_forever to return, so only call it when one runs.
            if self._serving.is_set():
                self._http.shutdown()
            self._http.server_close()
            self._http.close_open_connections()
            self._http = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self._restore_environment()

    def _start_dynamodb_endpoint(self, template: dict) -> None:
        self.endpoint_url = None if self.own_moto else os.environ.get("AWS_ENDPOINT_URL")
        if not self.endpoint_url:
            # Imported only here: each worker process imports this module as its __main__
            # (multiprocessing's spawn does) and has no use for moto, the heaviest import.
            from tests.support import moto_server

            if self.data_dir is not None:
                # Before moto starts: a DATA_DIR that cannot be used stops the start at once.
                self.journal = devdata.Journal.open(self.data_dir, table_layout(template))
            # moto's werkzeug server logs every call at INFO; keep the console for our log.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._moto, self.endpoint_url = moto_server.start(self.journal)
            self._set_env("AWS_ENDPOINT_URL", self.endpoint_url)
        # A local endpoint needs some region and credentials; a machine may have none set.
        for name, value in devstate.LOCAL_AWS_DEFAULTS.items():
            self._set_default_env(name, value)

    def _configure_environment(self, template: dict) -> None:
        self.table_name = os.environ.get("TABLE_NAME") or DEFAULT_TABLE_NAME
        self._set_env("TABLE_NAME", self.table_name)
        self.audit_stream_name = os.environ.get("AUDIT_STREAM_NAME") or self.audit_stream_name
        self._set_env("AUDIT_STREAM_NAME", self.audit_stream_name)
        self.audit_carrier = os.environ.get("AUDIT_CARRIER") or self.audit_carrier
        if self.audit_carrier not in ("sqs-fifo", "kinesis"):
            raise SystemExit(f"AUDIT_CARRIER is {self.audit_carrier!r}: sqs-fifo or kinesis")
        self._set_env("AUDIT_CARRIER", self.audit_carrier)
        if not self.master_key:
            self.master_key = os.environ.get("MASTER_KEY")
        if not self.master_key:
            self.master_key = "sk-" + secrets.token_urlsafe(32)
            self.master_key_generated = True
        self._set_env("MASTER_KEY", self.master_key)
        # Says "local" to the functions: a weak master key is warned about, not refused.
        self._set_env("LOCAL_DEV", "true")
        # The functions' literal settings from the template (Refs are resolved above or absent).
        for name, value in _global_function_environment(template).items():
            self._set_default_env(name, value)
        self._set_default_env("POWERTOOLS_TRACE_DISABLED", "true")
        # EMF JSON is for CloudWatch to parse; here it would be a blob per cold start and batch.
        self._set_default_env("POWERTOOLS_METRICS_DISABLED", "true")
        if is_metrics_disabled():
            # Powertools prints the cold-start metric even then: have it find no cold start.
            cold_start.is_cold_start = False
        self._set_default_env("POWERTOOLS_METRICS_NAMESPACE", "TeamLedger")
        self._set_default_env("POWERTOOLS_SERVICE_NAME", "teamledger")

    def _set_default_env(self, name: str, value: str) -> None:
        if name not in os.environ:
            self._set_env(name, value)

    def _set_env(self, name: str, value: str) -> None:
        self._replaced_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._replaced_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._replaced_env.clear()


def _put_layers_on_path(template: dict) -> list[str]:
    """Lambda puts each layer's python/ on sys.path (/opt/python); SAM builds it from
    ContentUri. Returns the layers' folders (the workers put them on theirs)."""
    layer_dirs = []
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            layer_dir = str(REPO_ROOT / resource["Properties"]["ContentUri"])
            layer_dirs.append(layer_dir)
            if layer_dir not in sys.path:
                sys.path.insert(0, layer_dir)
    return layer_dirs


def _global_function_environment(template: dict) -> dict[str, str]:
    variables = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def start_in_thread(port: int = 0, master_key: str | None = None,
                    data_dir: Path | None = None) -> tuple[str, Callable[[], None]]:
    """Run the whole dev server in this process: returns (base_url, stop).

    Starts a moto server of its own (whatever AWS_ENDPOINT_URL says; fresh unless `data_dir`
    is given) and the HTTP server on `port` (0: a free one) in a daemon thread; the handlers
    run in this process, one at a time (WORKERS=0: no worker processes). It sets
    process-global environment variables (AWS_ENDPOINT_URL, AWS credentials and region,
    TABLE_NAME, MASTER_KEY, POWERTOOLS_*) that `stop()` restores. The layer caches its settings
    and clients per process, as Lambda does per execution environment, so run one per test
    session (a session-scoped fixture).
    """
    server = DevServer(port=port, master_key=master_key, own_moto=True, data_dir=data_dir)
    _configure_access_log()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    thread = threading.Thread(target=server.serve_forever, name="devserver-http", daemon=True)
    thread.start()

    def stop() -> None:
        server.stop()
        thread.join(timeout=10)

    return server.base_url, stop


def _configure_access_log() -> None:
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


def _print_banner(server: DevServer) -> None:
    origin = "generated for this run" if server.master_key_generated else "from MASTER_KEY"
    endpoint = f"{server.endpoint_url} (moto)" if server.runs_moto else server.endpoint_url
    print(f"TeamLedger dev server on {server.base_url}", flush=True)
    print(f"  master key: {server.master_key}   ({origin})", flush=True)
    _warn_if_weak(server.master_key)
    print(f"  table:      {server.table_name} at {endpoint}", flush=True)
    carrier = (f"Kinesis stream {server.audit_stream_name}" if server.audit_carrier == "kinesis"
               else f"SQS FIFO queue {devstate.DEFAULT_AUDIT_QUEUE_NAME}")
    print(f"  audit:      {carrier} (make audit-tail PORT={server.port})", flush=True)
    print(f"  data:       {_data_note(server)}", flush=True)
    print(f"  workers:    {_workers_note(server)}", flush=True)
    if server.journal is not None and server.journal.replayed.diverged:
        diverged = server.journal.replayed.diverged
        line, operation, status = diverged[0]
        print(f"  WARNING:    {len(diverged)} replayed writes did not succeed again (first: line "
              f"{line} of {server.journal.path}, {operation}, {status}); the data may be off",
              flush=True)


def _warn_if_weak(master_key: str | None) -> None:
    """A master key a deployed function would refuse: accepted here (LOCAL_DEV), loudly."""
    from teamledger.http.auth import MIN_MASTER_KEY_BITS, estimated_bits

    bits = estimated_bits(master_key or "")
    if bits >= MIN_MASTER_KEY_BITS:
        return
    lines = [f"WEAK MASTER KEY: about {bits:.0f} bits of entropy, under {MIN_MASTER_KEY_BITS}.",
             "make dev accepts it (LOCAL_DEV); a deployed stack refuses it (every request 503).",
             "Unset MASTER_KEY for a random one, or use sk- and 43 URL-safe random characters."]
    rule = "!" * (max(len(line) for line in lines) + 4)
    for stream in (sys.stdout, sys.stderr):
        print(rule, *(f"! {line}" for line in lines), rule, sep="\n", file=stream, flush=True)


def _data_note(server: DevServer) -> str:
    if not server.runs_moto:
        return "kept by the endpoint of AWS_ENDPOINT_URL; nothing is kept here"
    if server.journal is None:
        return "not kept (DATA_DIR is empty): gone when this server stops"
    replayed = server.journal.replayed
    reset = ("make dev-reset" if server.data_dir == REPO_ROOT / DEFAULT_DATA_DIR
             else f"make dev-reset DATA_DIR={server.data_dir}")
    return (f"{server.data_dir}, written through ({replayed.writes} writes replayed in "
            f"{replayed.seconds:.1f}s; {reset} empties it)")


def _workers_note(server: DevServer) -> str:
    if not server.workers:
        return "none: handlers run in this process, one at a time (WORKERS=0)"
    if server.workers == 1:
        return "1 handler process, one request at a time (WORKERS)"
    return (f"up to {server.workers} handler processes, started as concurrent requests need "
            "them (WORKERS)")


def workers_from_environment() -> int:
    """WORKERS (DEFAULT_WORKERS if unset or empty); ValueError unless a whole number >= 0."""
    value = os.environ.get("WORKERS", "").strip()
    if not value:
        return DEFAULT_WORKERS
    try:
        workers = int(value)
    except ValueError:
        workers = -1
    if workers < 0:
        raise ValueError(f"WORKERS must be a whole number, 0 or more, not {value!r}")
    return workers


def data_dir_from_environment() -> Path | None:
    """DATA_DIR (relative to the repo root), its default if unset, None if set empty."""
    value = os.environ.get("DATA_DIR", DEFAULT_DATA_DIR)
    return REPO_ROOT / value if value else None


def main() -> int:
    stop_requested = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    _configure_access_log()
    # Metrics are off (POWERTOOLS_METRICS_DISABLED), so every flush would warn that it has none.
    warnings.filterwarnings("ignore", message="No application metrics to publish",
                            category=UserWarning)
    try:
        workers = workers_from_environment()
    except ValueError as error:
        print(f"devserver: cannot start: {error}", file=sys.stderr)
        return 1
    server = DevServer(port=int(os.environ.get("PORT") or DEFAULT_PORT),
                       data_dir=data_dir_from_environment(), workers=workers)
    try:
        server.start()
    except (OSError, devdata.DataDirError) as error:
        print(f"devserver: cannot start: {error}", file=sys.stderr)
        server.stop()
        return 1
    _print_banner(server)
    threading.Thread(target=server.serve_forever, name="devserver-http", daemon=True).start()
    print("ready", flush=True)
    while not stop_requested.wait(timeout=0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
