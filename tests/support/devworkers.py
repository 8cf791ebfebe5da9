"""`make dev`'s route handlers in worker processes, as Lambda runs concurrent invocations in
separate execution environments.

Why processes: Powertools keeps the current event on the resolver class and shares its
Logger/Metrics state across a process, so a process can run one invocation at a time (the dev
server's InvocationLock). Requests that should race for real need one process per concurrent
invocation. They are started with multiprocessing's "spawn": a fork of the threaded server would
copy locks other threads hold at that moment (moto's, the journal's, logging's).

A worker is an execution environment: it imports a function's module on the function's first
invocation there (its cold start) and keeps it, and runs one invocation at a time. All of them
talk to the one moto of the dev server, whose address is in the environment they are given.
The pool starts workers as concurrent requests need them, up to its size, as Lambda scales
with concurrency, and gives a request the worker that went idle last (Lambda prefers warm
environments too). So sequential requests keep to one warm worker, and a second worker only
exists because a request came while every worker was busy.

A handler that raises and a worker that dies are both a Lambda error: the caller answers the
request with API Gateway's 500, and the worker is dropped (its state may be what failed); a
new one starts when a request needs it, as Lambda starts a fresh environment.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider import cold_start

from tests.support.apigw import lambda_context

STOP_TIMEOUT_S = 5.0

log = logging.getLogger("teamledger.devserver")


class InvocationFailed(Exception):
    """The handler raised (the message is its traceback, as CloudWatch would hold it) or its
    worker died during the invocation."""


class PoolClosed(InvocationFailed):
    """The pool was closed (the server is stopping) before or during the invocation: no error
    of the function's."""


class WorkerPool:
    """Up to `size` worker processes; `invoke` runs one invocation in an idle one, starting a
    worker when none is idle and fewer than `size` run, else waiting for one to go idle."""

    def __init__(self, size: int, environment: dict[str, str], layer_dirs: list[str]):
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self._environment = environment
        self._layer_dirs = layer_dirs
        self._context = multiprocessing.get_context("spawn")
        self._workers: set[Worker] = set()
        self._idle: list[Worker] = []  # a stack: the last to go idle is the warmest
        self._changed = threading.Condition()
        self._closed = False

    def start(self) -> None:
        """Start one worker now: it boots while the server finishes starting, so the first
        request does not wait for a process (only for its function's cold start)."""
        with self._changed:
            worker = self._new_worker()
        self._boot(worker)
        self._release(worker)

    def invoke(self, module: str, handler: str, function: str, event: dict) -> tuple[Any, int]:
        """The handler's result and the pid of the worker that ran it; InvocationFailed if the
        handler raised or the worker died."""
        worker = self._acquire()
        try:
            result = worker.invoke(module, handler, function, event)
        except BaseException as error:
            self._drop(worker)
            if self._closed and isinstance(error, InvocationFailed):
                raise PoolClosed("the dev server is stopping") from None
            raise
        self._release(worker)
        return result, worker.pid

    def close(self) -> None:
        """Stop every worker, busy ones too (their requests answer 500)."""
        with self._changed:
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._changed.notify_all()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()

    def _acquire(self) -> Worker:
        with self._changed:
            while True:
                self._check_open()
                while self._idle:
                    worker = self._idle.pop()
                    if worker.is_alive():
                        return worker
                    # Died while idle (killed from outside): it never got this request.
                    self._workers.discard(worker)
                    worker.join()
                    log.warning("worker %d had exited (code %s) while idle; another takes its "
                                "place", worker.pid, worker.exitcode)
                if len(self._workers) < self.size:
                    worker = self._new_worker()
                    break
                self._changed.wait()
        self._boot(worker)
        return worker

    def _new_worker(self) -> Worker:
        """A worker counted in the pool, not started yet (the caller holds the lock)."""
        self._check_open()
        worker = Worker(self._context, self._environment, self._layer_dirs)
        self._workers.add(worker)
        return worker

    def _boot(self, worker: Worker) -> None:
        try:
            worker.start()
        except BaseException:
            self._drop(worker)
            raise

    def _release(self, worker: Worker) -> None:
        with self._changed:
            if worker in self._workers:  # else close() took it
                self._idle.append(worker)
                self._changed.notify()

    def _drop(self, worker: Worker) -> None:
        with self._changed:
            self._workers.discard(worker)
            self._changed.notify()  # a waiting request may now start a worker of its own
        worker.terminate()
        worker.join()

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosed("the dev server is stopping")


class Worker:
    """One worker process and the server's end of its pipe; used by one thread at a time."""

    def __init__(self, context: Any, environment: dict[str, str], layer_dirs: list[str]):
        self._connection, child_end = context.Pipe()
        self._child_end: Connection | None = child_end
        self._process = context.Process(
            target=serve, args=(child_end, environment, layer_dirs),
            name="devserver-worker", daemon=True)  # daemon: ended if the server exits anyway

    @property
    def pid(self) -> int:
        return self._process.pid or 0

    def start(self) -> None:
        # Ctrl-C signals the terminal's whole process group. A worker ignores SIGINT (the server
        # stops it), but it starts as a new interpreter that would turn SIGINT into a
        # KeyboardInterrupt traceback until serve() runs; started with SIGINT blocked, it has
        # none pending until then (the stdlib's resource tracker starts the same way). The
        # tracker first: starting it unblocks SIGINT in this thread, before our spawn.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if self._child_end is not None:
            # Only the worker holds its end now, so its death is an EOF on ours.
            self._child_end.close()
            self._child_end = None

    def invoke(self, module: str, handler: str, function: str, event: dict) -> Any:
        try:
            self._connection.send((module, handler, function, event))
            outcome, value = self._connection.recv()
        except (EOFError, OSError):
            self._process.join(STOP_TIMEOUT_S)
            raise InvocationFailed(f"worker {self.pid} exited with code "
                                   f"{self._process.exitcode} during the invocation") from None
        if outcome == "raised":
            raise InvocationFailed(value)
        return value

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def terminate(self) -> None:
        if self._process.pid is not None and self._process.exitcode is None:
            self._process.terminate()

    def join(self) -> None:
        if self._process.pid is None:
            return
        self._process.join(STOP_TIMEOUT_S)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join(STOP_TIMEOUT_S)
        self._connection.close()


def serve(connection: Connection, environment: dict[str, str], layer_dirs: list[str]) -> None:
    """A worker's life: invocations from the pipe, one at a time, until the server stops it or
    goes away (EOF)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending one is dropped
    # The server ends a worker with SIGTERM, which flushes nothing: a handler's log line must
    # not wait in a buffer for an exit that never comes.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.update(environment)
    # Lambda puts each layer's python/ on sys.path (/opt/python), as the dev server does.
    for layer_dir in reversed(layer_dirs):
        if layer_dir not in sys.path:
            sys.path.insert(0, layer_dir)
    _quiet_powertools()
    metrics = Metrics()  # its metric set is the one every Metrics() of the process shares
    handlers: dict[tuple[str, str], Callable[[dict, Any], Any]] = {}
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return  # the server is gone (a kill -9 included): nobody to answer
        module, handler_name, function, event = request
        try:
            handler = handlers.get((module, handler_name))
            if handler is None:
                handler = getattr(importlib.import_module(module), handler_name)
                handlers[(module, handler_name)] = handler
            answer: tuple[str, Any] = (
                "returned", handler(event, lambda_context(function_name=function)))
        except Exception:
            answer = ("raised", traceback.format_exc())
        finally:
            # With metrics disabled Powertools never clears its set and prints it once a
            # metric holds 100 values; Lambda's flush would have cleared it after each call.
            metrics.clear_metrics()
        try:
            _send(connection, answer)
        except OSError:
            return


def _send(connection: Connection, answer: tuple[str, Any]) -> None:
    try:
        connection.send(answer)
    except OSError:
        raise
    except Exception:  # a result that does not pickle: Lambda could not serialise it either
        connection.send(("raised", traceback.format_exc()))


def _quiet_powertools() -> None:
    """The worker's console stays as quiet as the server's: the metrics are off (EMF JSON is
    for CloudWatch to parse), so every flush would warn that it has none, and Powertools
    prints the cold-start metric even then unless it finds no cold start."""
    warnings.filterwarnings("ignore", message="No application metrics to publish",
                            category=UserWarning)
    if is_metrics_disabled():
        cold_start.is_cold_start = False
