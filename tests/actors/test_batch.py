"""actors.batch on a real Redis broker: pipelined messages are the ones workers consume."""

from __future__ import annotations

import dramatiq
import pytest

from actors.batch import enqueue_many
from actors.broker import make_broker
from pipeline.settings import Settings

pytestmark = pytest.mark.redis


def test_pipelined_enqueue_delivers_every_message_once(redis_url: str) -> None:
    broker = make_broker(Settings(broker_url=redis_url, broker_namespace="recall-test-batch"))
    seen: list[int] = []

    @dramatiq.actor(actor_name="test.collect", queue_name="collect", broker=broker)
    def collect(n: int) -> None:
        seen.append(n)

    assert enqueue_many(collect, [(n,) for n in range(2500)], batch=1000) == 2500
    assert broker.do_qsize("collect") == 2500
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=4)
    worker.start()
    try:
        broker.join("collect", timeout=60_000)
        worker.join()
    finally:
        worker.stop()
        broker.close()
    assert sorted(seen) == list(range(2500))
