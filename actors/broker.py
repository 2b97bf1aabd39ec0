"""The broker, chosen once from settings before any actor is declared.

``RECALL_BROKER_URL`` set: Dramatiq's RedisBroker, keys prefixed with the deployment's
namespace. Unset: an in-process StubBroker, driven by worker threads in the same process
(``recall demo``, unit tests). Rate limiters share the same choice: Redis-backed, so a
limit holds across every worker on every machine, or in-memory for the embedded mode.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage
from dramatiq.rate_limits import RateLimiterBackend
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from actors.stats import QueueStatsRecorder
from pipeline.settings import Settings, get_settings


def make_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.broker_url:
        broker = RedisBroker(url=settings.broker_url, namespace=settings.broker_namespace)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(CurrentMessage())
    from actors.dead_letters import DeadLetterNotes  # needs nothing but dramatiq

    broker.add_middleware(DeadLetterNotes())
    # Throughput and error counts for the dashboard (Redis only; a no-op on the stub).
    broker.add_middleware(QueueStatsRecorder())
    if settings.broker_url and settings.worker_metrics:
        # Dramatiq 2 no longer adds it by default. Imported only here: it reads its port
        # and directory from the environment `recall worker` prepared (cli/worker.py).
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    return broker


def make_rate_limiter_backend(settings: Settings) -> RateLimiterBackend:
    if settings.broker_url:
        return RedisBackend(url=settings.broker_url)
    return StubBackend()


broker = make_broker(get_settings())
dramatiq.set_broker(broker)
rate_limiter_backend = make_rate_limiter_backend(get_settings())
