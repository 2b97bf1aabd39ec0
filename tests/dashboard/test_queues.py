"""Queue figures read from Redis equal what a real RedisBroker and a real worker did."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from actors import queues
from actors.dead_letters import DeadLetterNotes, list_dead_letters
from actors.stats import QueueStatsRecorder
from pipeline.clock import utcnow

pytestmark = pytest.mark.redis


@pytest.fixture
def broker(redis_url: str) -> Iterator[RedisBroker]:
    # A namespace of our own: nothing else in the db shares these keys.
    broker = RedisBroker(url=redis_url, namespace=f"qt{uuid.uuid4().hex[:8]}")
    broker.add_middleware(QueueStatsRecorder())
    broker.add_middleware(DeadLetterNotes())
    yield broker
    broker.close()


def stats_by_name(broker: RedisBroker) -> dict[str, queues.QueueStats]:
    found = queues.queue_stats(broker.client, broker.namespace, now=utcnow())
    return {q.name: q for q in found}


def test_counts_follow_the_brokers_own_operations(broker: RedisBroker) -> None:
    @dramatiq.actor(broker=broker, queue_name="alpha", actor_name="t.alpha")
    def alpha(n: int) -> None: ...

    for i in range(7):
        alpha.send(i)
    for i in range(3):
        alpha.send_with_options(args=(100 + i,), delay=60_000)
    consumer = broker.consume("alpha", prefetch=3, timeout=100)
    fetched = [next(consumer) for _ in range(3)]
    consumer.nack(fetched[0])

    stats = stats_by_name(broker)["alpha"]
    # What the broker was told to do: 7 sent, 3 fetched (1 of them rejected), 3 delayed.
    assert (stats.ready, stats.in_progress, stats.dead, stats.delayed) == (4, 2, 1, 3)
    # The broker's own bookkeeping agrees: its list, its ack set, its dead-letter set.
    ns = broker.namespace
    assert broker.client.llen(f"{ns}:alpha") == stats.ready
    assert broker.client.scard(f"{ns}:__acks__.{broker.broker_id}.alpha") == stats.in_progress
    assert broker.client.zcard(f"{ns}:alpha.XQ") == stats.dead
    consumer.close()


def test_worker_outcomes_errors_and_heartbeats(broker: RedisBroker) -> None:

    @dramatiq.actor(broker=broker, queue_name="gamma", actor_name="t.gamma", max_retries=0)
    def gamma(n: int) -> None:
        if n % 4 == 0:
            raise ValueError(f"bad input {n}")

    for i in range(12):
        gamma.send(i)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        broker.join("gamma", timeout=20_000)
        worker.join()
        stats = stats_by_name(broker)["gamma"]
        assert (stats.processed, stats.failed) == (12, 3)
        assert stats.error_rate == pytest.approx(0.25)
        assert (stats.ready, stats.in_progress, stats.dead) == (0, 0, 3)
        dead = list_dead_letters("gamma", broker=broker)
        assert sorted(d.error for d in dead) == [f"ValueError: bad input {n}" for n in (0, 4, 8)]

        seen = {
            w.broker_id: w for w in queues.workers(broker.client, broker.namespace, now=utcnow())
        }
        me = seen[broker.broker_id]
        assert me.alive and me.hostname and me.queues == ["gamma"]
        # Drained, the queue has no keys left, yet shows: its worker registered it.
        broker.client.delete(f"{broker.namespace}:gamma.XQ", f"{broker.namespace}:gamma.XQ.msgs")
        assert "gamma" in stats_by_name(broker)
    finally:
        worker.stop()
    # A stopped worker removes its registration; its heartbeat ages out on its own.
    registered = broker.client.hgetall(f"{broker.namespace}:__workers__")
    assert broker.broker_id.encode() not in registered


def test_discovery_skips_internal_keys_and_throughput_windows(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    now = utcnow()
    queues.record_outcome(client, "ns", "one", failed=False, now=now)
    queues.record_outcome(client, "ns", "one", failed=True, now=now)
    client.hset("ns:two.DQ.msgs", "m1", json.dumps({"actor_name": "x"}))
    client.hset("ns:two.XQ.errors", "m1", "ValueError: x")
    # The pipeline's rate limiters share the namespace; they are not queues.
    client.hset("ns:limits:sms:+15005550006@1795387723", "a", 1)
    client.rpush("ns:three", "id-without-a-hash")
    client.zadd("ns:__heartbeats__", {"abc": 1})
    assert queues.discover_queues(client, "ns") == ["two"]
    assert queues.throughput(client, "ns", ["one"], now=now, minutes=5) == {"one": (2, 1)}
    series = queues.per_minute_series(client, "ns", ["one", "two"], now=now, minutes=3)
    assert [p for _, p, _ in series] == [0, 0, 2]
    assert queues.workers(client, "ns", now=now)[0].alive is False
