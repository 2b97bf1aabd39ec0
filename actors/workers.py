"""Running workers: the list of actor modules, and an in-process worker for embedded mode.

``recall worker`` runs Dramatiq's own worker processes over ``ACTOR_MODULES``; ``recall
demo`` and tests use ``embedded_worker``: Dramatiq worker threads inside the calling process
consuming the in-process broker (or any broker).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq

from actors.broker import broker as default_broker

# Every module that declares actors: a worker imports them all, so it knows every actor.
ACTOR_MODULES = ("actors.campaign", "actors.case", "actors.channel", "actors.response")


def import_actor_modules() -> list[str]:
    """Import every actor module; returns their names (``recall worker`` passes them on)."""
    for name in ACTOR_MODULES:
        importlib.import_module(name)
    return list(ACTOR_MODULES)


@contextmanager
def embedded_worker(
    *, threads: int = 8, broker: dramatiq.Broker | None = None, queues: set[str] | None = None
) -> Iterator[dramatiq.Worker]:
    """Worker threads in this process for the block; stopped (gracefully) on exit."""
    import_actor_modules()
    worker = dramatiq.Worker(
        broker or default_broker, queues=queues, worker_threads=threads, worker_timeout=100
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
