"""The baseline for bench/pipeline.py: a Dramatiq actor that does nothing, on the same Redis
(its own namespace), run by Dramatiq's own worker: `dramatiq bench.noop_actor:broker`."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from pipeline.settings import get_settings

broker = RedisBroker(url=get_settings().broker_url, namespace="recall-bench-noop")
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="bench.noop", queue_name="noop")
def noop(n: int) -> None:
    """Nothing: what is left is Dramatiq's and Redis's own cost per message."""
