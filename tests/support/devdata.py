"""`make dev`'s data in DATA_DIR: a journal of the writes moto was asked for, replayed at start.

Why a journal of requests: moto keeps its state in Python objects with no on-disk form, and a
dump at exit is lost to a kill -9. The requests themselves are AWS's wire format, so replaying
them through the same moto rebuilds the same tables and streams, and the file stays readable
(one JSON a line) for whoever has to look into it.

Write-through: a write that moto answered 2xx is appended and fsync'd before its answer leaves
moto, so every change a handler was told about, and so every 200 a client got, outlives a kill -9
(or a power cut). A write moto refused (a failed condition, a cancelled transaction) changed
nothing and is not written. A write cut off before its answer may be lost: nobody was told it
happened. A write is any request whose operation is not a read by AWS's naming (READ_PREFIXES):
an operation missing from that list is journaled, not lost.

Order: a write holds one lock from moto's handling through its fsync, so the journal's order is
the order moto applied the writes in, and every conditional write replays to the outcome it had.
Reads do not take the lock. Replay is deterministic because moto's answers depend on its state
and the request alone: the handlers put their clock's values into the requests, and moto neither
expires items nor trims streams. What moto stamps on its own (table creation time, stream record
and Kinesis arrival times) becomes the replay's time. The table's stream is rebuilt by the replay
as well, so the audit publisher reads it again from the start and skips what its markers (in the
table, replayed with the rest) say it published. A write that answers otherwise on replay would
be a bug; the banner counts them. (One known way: moto leaves a keys-only item behind when an
UpdateItem that would create the item fails validation. DynamoDB never has it, and neither does
the replay.)

The layout fingerprint: items written under one key schema or set of indexes replay without an
error into a table of another, and the handlers would then read them wrongly; a store of another
layout is refused at start instead (`make dev-reset` empties it). A lock on the journal keeps a
second `make dev` off the same DATA_DIR.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.datastructures import EnvironHeaders
from werkzeug.test import EnvironBuilder
from werkzeug.wsgi import get_input_stream

JOURNAL_FILE = "journal.jsonl"
LAYOUT_FILE = "layout.json"
RESET_HINT = ("run `make dev-reset` (with the same DATA_DIR) to empty it, losing its data, or "
              "point DATA_DIR elsewhere")

# Operations that change nothing (DynamoDB, DynamoDB Streams, Kinesis and most of AWS name them
# so); every other operation is journaled.
READ_PREFIXES = ("Get", "BatchGet", "TransactGet", "Describe", "List", "Query", "Scan")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Not needed to replay a request, or not to be kept on disk (a session token is a credential).
UNKEPT_HEADERS = frozenset({
    "host", "content-length", "connection", "keep-alive", "transfer-encoding", "expect",
    "user-agent", "accept-encoding", "x-amz-security-token", "amz-sdk-invocation-id",
    "amz-sdk-request",
})
SIGNATURE = re.compile(r"Signature=[0-9a-fA-F]+")
ENTRY_KEYS = frozenset({"method", "path", "query", "headers"})

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class DataDirError(Exception):
    """DATA_DIR cannot be used as it is; the message says why and what to do."""


@dataclass
class ReplayReport:
    writes: int = 0
    seconds: float = 0.0
    # (line number, operation, status) of writes that did not answer 2xx again: a bug
    diverged: list[tuple[int, str, str]] = field(default_factory=list)


def layout_fingerprint(layout: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()


class Journal:
    """The journal of one DATA_DIR, locked for this process until close()."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()
        self.replayed = ReplayReport()

    @classmethod
    def open(cls, data_dir: Path, layout: dict[str, Any]) -> Journal:
        """DATA_DIR's journal, created (with the layout's fingerprint) if it has none; raises
        DataDirError if another process uses it or it holds data of another layout."""
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(data_dir / JOURNAL_FILE, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            raise DataDirError(f"DATA_DIR {data_dir} cannot be used: {error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirError(f"DATA_DIR {data_dir} is in use by another `make dev`; stop "
                               "it, or give this one another DATA_DIR") from None
        try:
            _claim_layout(data_dir, layout, has_data=os.fstat(fd).st_size > 0)
        except BaseException:
            os.close(fd)
            raise
        return cls(data_dir / JOURNAL_FILE, fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1

    def replay(self, app: WsgiApp) -> ReplayReport:
        """Every journaled write into `app`, in order, before it serves anyone."""
        started = time.perf_counter()
        report = ReplayReport()
        for line_number, entry in self._entries():
            status = _call(app, _environ(entry))[0]
            report.writes += 1
            if not status.startswith("2"):
                report.diverged.append((line_number, _operation_of(entry), status))
        report.seconds = time.perf_counter() - started
        self.replayed = report
        return report

    def recording(self, app: WsgiApp) -> WsgiApp:
        """`app` that journals each write it answers 2xx before the answer goes out."""

        def journaled(environ: dict, start_response: Callable) -> Iterable[bytes]:
            if _is_read(environ):
                return app(environ, start_response)
            body = get_input_stream(environ).read()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("wsgi.input_terminated", None)
            entry = _entry(environ, body)  # as it came, before moto's handling reads it
            with self._lock:
                status, headers, answer = _call(app, environ)
                if status.startswith("2"):
                    self._append(entry)
            start_response(status, headers)
            return [answer]

        return journaled

    def _append(self, entry: dict) -> None:
        line = memoryview(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        while line:
            line = line[os.write(self._fd, line):]
        os.fsync(self._fd)

    def _entries(self) -> Iterable[tuple[int, dict]]:
        """The journal's entries; a last line cut off by a crash (never acknowledged) is cut
        from the file too, so that appends start on a line of their own."""
        kept = 0
        with open(self.path, "rb") as journal:
            for line_number, line in enumerate(journal, start=1):
                if not line.endswith(b"\n"):
                    os.ftruncate(self._fd, kept)
                    return
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = None
                if not (isinstance(entry, dict) and entry.keys() >= ENTRY_KEYS):
                    raise DataDirError(f"line {line_number} of {self.path} is not a journal "
                                       f"entry; {RESET_HINT}")
                kept += len(line)
                yield line_number, entry


def _claim_layout(data_dir: Path, layout: dict[str, Any], has_data: bool) -> None:
    fingerprint = layout_fingerprint(layout)
    path = data_dir / LAYOUT_FILE
    if has_data:
        try:
            kept = json.loads(path.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            kept = None
        if kept != fingerprint:
            raise DataDirError(
                f"DATA_DIR {data_dir} holds data written for another table layout (template.yaml's "
                f"Table has changed since: keys, indexes, stream or TTL); {RESET_HINT}")
        return
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as file:
        json.dump({"fingerprint": fingerprint, "table": layout}, file, indent=1, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    directory = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new files' names survive a power cut too
    finally:
        os.close(directory)


def _operation(environ: dict) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    return target.rsplit(".", 1)[-1] if target else environ["REQUEST_METHOD"]


def _is_read(environ: dict) -> bool:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return _operation(environ).startswith(READ_PREFIXES)
    return environ["REQUEST_METHOD"] in READ_METHODS


def _operation_of(entry: dict) -> str:
    targets = [value for name, value in entry["headers"] if name.lower() == "x-amz-target"]
    return targets[0].rsplit(".", 1)[-1] if targets else entry["method"]


def _entry(environ: dict, body: bytes) -> dict:
    # The signature is of no use to moto; the credential scope tells it the region.
    headers = [[name, SIGNATURE.sub("Signature=-", value) if name.lower() == "authorization"
                else value]
               for name, value in EnvironHeaders(environ).items()
               if name.lower() not in UNKEPT_HEADERS]
    entry = {"method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO") or "/",
             "query": environ.get("QUERY_STRING", ""), "headers": headers}
    try:
        entry["body"] = body.decode()
    except UnicodeDecodeError:
        entry["body_base64"] = base64.b64encode(body).decode()
    return entry


def _environ(entry: dict) -> dict:
    body = (entry["body"].encode() if "body" in entry
            else base64.b64decode(entry["body_base64"]))
    return EnvironBuilder(path=entry["path"], method=entry["method"],
                          query_string=entry["query"], headers=entry["headers"],
                          data=body).get_environ()


def _call(app: WsgiApp, environ: dict) -> tuple[str, list, bytes]:
    """Run a WSGI app to the end: (status, headers, body)."""
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        started.update(status=status, headers=headers)
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started["status"], started["headers"], b"".join(chunks)

