"""Requests from separate processes, as separate Lambda execution environments make them: each
worker is its own process (Powertools' resolver is one request at a time per process, as in
Lambda), all against the same moto server, so concurrent requests race as they do in AWS."""

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


def call(method: str, path: str, body: dict) -> tuple[int, dict]:
    """One request, made in a worker: its status and body."""
    from tests.support.client import Api

    reply = Api().call(method, path, body=body)
    return reply.status, reply.body


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """`workers` processes, each warmed up by one request. spawn: each starts clean and reads
    the moto endpoint from the environment it inherits."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(call, ["GET"] * workers, ["/health/liveliness"] * workers,
                      [{}] * workers))
        yield pool
