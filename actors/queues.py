"""Queue, worker and dead-letter figures read straight from Dramatiq's Redis keys.

``dramatiq-dashboard`` stops below Dramatiq 2, so this reads the RedisBroker's layout itself
(dramatiq/brokers/redis/dispatch.lua), under ``<namespace>:``:

- ``<q>``            list of ready message ids;
- ``<q>.msgs``       hash id → message of every message not yet acked (ready + fetched);
- ``<q>.DQ.msgs``    the same for the delay queue (retries back off through it too);
- ``<q>.XQ``         sorted set of dead-lettered ids by time; ``<q>.XQ.msgs`` their data;
- ``__heartbeats__`` sorted set of broker ids by last dispatch (milliseconds);
- ``__acks__.<broker id>.<q>`` set of ids a worker fetched and has not acked.

So ready = LLEN q, in progress = HLEN q.msgs − LLEN q, delayed = HLEN q.DQ.msgs,
dead = ZCARD q.XQ, all read in one MULTI so the figures agree with each other.

Throughput and errors are not kept by Dramatiq; ``actors.stats.QueueStatsRecorder`` (a
worker middleware) counts processed and failed messages per queue per minute under
``__stats__``, and registers each worker process under ``__workers__``. Listing, requeueing
and deleting dead letters is ``actors.dead_letters``' job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis

STATS_TTL_SECONDS = 2 * 3600
# Dramatiq's default (brokers/redis.py DEFAULT_HEARTBEAT_TIMEOUT).
HEARTBEAT_TIMEOUT_MS = 60_000
_SUFFIXES = (".XQ.msgs", ".DQ.msgs", ".XQ", ".DQ", ".msgs")
# Keys the broker keeps while a queue holds anything (the ready list never outlives them).
_QUEUE_KEY_SUFFIXES = (".msgs", ".XQ")


@dataclass(frozen=True)
class QueueStats:
    name: str
    ready: int
    delayed: int
    in_progress: int
    dead: int
    processed: int  # over the window
    failed: int
    window_minutes: int

    @property
    def error_rate(self) -> float | None:
        return None if self.processed == 0 else self.failed / self.processed

    @property
    def per_minute(self) -> float:
        return self.processed / self.window_minutes


@dataclass(frozen=True)
class WorkerInfo:
    broker_id: str
    last_heartbeat: datetime
    alive: bool
    in_progress: int
    # Known for worker processes (registered by the stats middleware); processes that only
    # enqueue (web, scheduler) also heartbeat and show up without them.
    hostname: str | None
    pid: int | None
    queues: list[str]


def _key(namespace: str, *parts: str) -> str:
    return namespace + ":" + "".join(parts)


def _from_ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def discover_queues(client: redis.Redis, namespace: str) -> list[str]:
    """Every queue holding messages or dead letters (delay queues folded in).

    Other things share the namespace (rate limiters, our own counters), so only the
    broker's message hashes and dead-letter sets name a queue, and only with a name
    Dramatiq allows (no ":").
    """
    prefix = namespace + ":"
    names: set[str] = set()
    for raw in client.scan_iter(match=prefix + "*", count=500):
        key = (raw.decode() if isinstance(raw, bytes) else str(raw))[len(prefix) :]
        if not key.endswith(_QUEUE_KEY_SUFFIXES) or key.startswith("__") or ":" in key:
            continue
        for suffix in _SUFFIXES:
            key = key.removesuffix(suffix)
        names.add(key)
    return sorted(names)


def queue_stats(
    client: redis.Redis,
    namespace: str,
    queues: list[str] | None = None,
    *,
    now: datetime,
    window_minutes: int = 15,
) -> list[QueueStats]:
    """Figures for each queue; ``queues`` adds names that may have no keys yet."""
    names = sorted(
        set(discover_queues(client, namespace))
        | registered_queues(client, namespace)
        | set(queues or ())
    )
    pipe = client.pipeline(transaction=True)
    for q in names:
        pipe.llen(_key(namespace, q))
        pipe.hlen(_key(namespace, q, ".msgs"))
        pipe.hlen(_key(namespace, q, ".DQ.msgs"))
        pipe.zcard(_key(namespace, q, ".XQ"))
    counts = [int(c) for c in pipe.execute()]
    rates = throughput(client, namespace, names, now=now, minutes=window_minutes)
    result = []
    for i, q in enumerate(names):
        ready, unacked, delayed, dead = counts[4 * i : 4 * i + 4]
        processed, failed = rates[q]
        result.append(
            QueueStats(
                q, ready, delayed, max(0, unacked - ready), dead, processed, failed, window_minutes
            )
        )
    return result


def minute_of(now: datetime) -> int:
    return int(now.timestamp() // 60)


def stats_key(namespace: str, queue: str, minute: int) -> str:
    return _key(namespace, "__stats__:", queue, ":", str(minute))


def record_outcome(
    client: redis.Redis, namespace: str, queue: str, *, failed: bool, now: datetime
) -> None:
    """Count one processed message (and whether it failed) in its minute bucket."""
    key = stats_key(namespace, queue, minute_of(now))
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(key, "processed", 1)
    if failed:
        pipe.hincrby(key, "failed", 1)
    pipe.expire(key, STATS_TTL_SECONDS)
    pipe.execute()


def throughput(
    client: redis.Redis, namespace: str, queues: list[str], *, now: datetime, minutes: int
) -> dict[str, tuple[int, int]]:
    """(processed, failed) per queue over the last ``minutes`` minutes."""
    last = minute_of(now)
    pipe = client.pipeline(transaction=False)
    for q in queues:
        for minute in range(last - minutes + 1, last + 1):
            pipe.hmget(stats_key(namespace, q, minute), "processed", "failed")
    rows = iter(pipe.execute())
    result = {}
    for q in queues:
        processed = failed = 0
        for _ in range(minutes):
            p, f = next(rows)
            processed += int(p or 0)
            failed += int(f or 0)
        result[q] = (processed, failed)
    return result


def per_minute_series(
    client: redis.Redis, namespace: str, queues: list[str], *, now: datetime, minutes: int
) -> list[tuple[int, int, int]]:
    """[(minute start as unix seconds, processed, failed)] summed over the queues."""
    last = minute_of(now)
    pipe = client.pipeline(transaction=False)
    span = range(last - minutes + 1, last + 1)
    for minute in span:
        for q in queues:
            pipe.hmget(stats_key(namespace, q, minute), "processed", "failed")
    rows = iter(pipe.execute())
    series = []
    for minute in span:
        processed = failed = 0
        for _ in queues:
            p, f = next(rows)
            processed += int(p or 0)
            failed += int(f or 0)
        series.append((minute * 60, processed, failed))
    return series


def registered_queues(client: redis.Redis, namespace: str) -> set[str]:
    """Queues the registered workers consume: an empty queue has no keys, yet matters."""
    infos = cast(list[bytes], client.hvals(_key(namespace, "__workers__")))
    names = {str(q) for raw in infos for q in json.loads(raw).get("queues", [])}
    return {name for name in names if not name.endswith(".DQ")}


def register_worker(
    client: redis.Redis, namespace: str, broker_id: str, info: dict[str, Any]
) -> None:
    client.hset(_key(namespace, "__workers__"), broker_id, json.dumps(info))


def unregister_worker(client: redis.Redis, namespace: str, broker_id: str) -> None:
    client.hdel(_key(namespace, "__workers__"), broker_id)


def workers(
    client: redis.Redis,
    namespace: str,
    *,
    now: datetime,
    heartbeat_timeout_ms: int = HEARTBEAT_TIMEOUT_MS,
) -> list[WorkerInfo]:
    """Every broker process that dispatched lately, newest heartbeat first."""
    beats = cast(
        list[tuple[bytes, float]],
        client.zrevrange(_key(namespace, "__heartbeats__"), 0, -1, withscores=True),
    )
    registered = cast(dict[bytes, bytes], client.hgetall(_key(namespace, "__workers__")))
    now_ms = now.timestamp() * 1000
    result = []
    for raw_id, score in beats:
        broker_id = raw_id.decode()
        info = json.loads(registered.get(raw_id, b"{}"))
        result.append(
            WorkerInfo(
                broker_id=broker_id,
                last_heartbeat=_from_ms(score),
                alive=now_ms - score < heartbeat_timeout_ms,
                in_progress=_acked_count(client, namespace, broker_id),
                hostname=info.get("hostname"),
                pid=info.get("pid"),
                queues=list(info.get("queues", [])),
            )
        )
    return result


def _acked_count(client: redis.Redis, namespace: str, broker_id: str) -> int:
    keys = list(client.scan_iter(match=_key(namespace, "__acks__.", broker_id, ".*"), count=200))
    if not keys:
        return 0
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.scard(key)
    return sum(int(n) for n in pipe.execute())
