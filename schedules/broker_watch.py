"""Noticing that the broker lost its data, so the scheduler can repair it at once.

A marker key per deployment (``<namespace>:broker:marker``) holds the run id of the Redis
server that carries the work. The marker missing (a flushed db, a restart without
persistence) or holding another run id (a restart, a failover: whatever the server kept,
messages of its last second may be gone) means messages were lost; the scheduler then
releases everything the database says is in flight (``pipeline.cases.broker_loss``) and writes
the marker again. A first start looks the same as a loss, and repairing then is harmless:
everything re-enqueued is idempotent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker

log = logging.getLogger(__name__)


class BrokerWatch:
    """Compares the marker with the server's run id."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.key = f"{namespace}:broker:marker"

    @classmethod
    def for_url(cls, url: str, namespace: str) -> BrokerWatch:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), namespace)

    def run_id(self) -> str:
        return str(self.client.info("server")["run_id"])

    def lost(self) -> str | None:
        """Why the broker's data is taken to be lost since the last ``mark``, or None."""
        marker = self.client.get(self.key)
        if marker is None:
            return "marker_missing"
        if _text(marker) != self.run_id():
            return "server_restarted"
        return None

    def mark(self) -> None:
        """Call once the repair has committed: until then the loss is still reported."""
        self.client.set(self.key, self.run_id())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DeadWorkerSweep:
    """Gives a killed worker's messages back to their queues within seconds of Dramatiq's
    heartbeat timeout (60 s), instead of whenever its random maintenance happens to run on
    that queue (one command in a thousand: minutes on a quiet queue).

    Dramatiq's own Lua maintenance does the work (the dead worker's unacknowledged
    messages are pushed back, its heartbeat removed); this only triggers it, for each queue
    a dead worker holds messages of, and only when some worker's heartbeat is overdue.
    """

    def __init__(self, url: str, namespace: str) -> None:
        self.broker = RedisBroker(
            url=url, namespace=namespace, maintenance_chance=MAINTENANCE_SCALE, middleware=[]
        )
        self.namespace = namespace
        # A dead worker can take a few rounds to clear (one per queue it held); report it once.
        self.reported: set[str] = set()

    def dead_workers(self) -> list[str]:
        overdue = int(time.time() * 1000) - self.broker.heartbeat_timeout
        key = f"{self.namespace}:__heartbeats__"
        found: Any = self.broker.client.zrangebyscore(key, 0, overdue)
        return [_text(worker) for worker in found]

    def queues_held_by(self, worker: str) -> set[str]:
        prefix = f"{self.namespace}:__acks__.{worker}."
        keys = self.broker.client.keys(prefix + "*")  # a handful per worker
        return {_text(key)[len(prefix) :] for key in keys}

    def run(self) -> int:
        """Returns the workers newly found dead (their messages are back in their queues);
        one still clearing from an earlier round is handled again but not counted again."""
        dead = self.dead_workers()
        queues = {queue for worker in dead for queue in self.queues_held_by(worker)}
        for queue in sorted(queues):
            self.broker.do_qsize(queue)  # any command but ack/nack runs the maintenance
        new = set(dead) - self.reported
        self.reported = (self.reported & set(dead)) | new
        if new:
            log.warning("broker.dead_workers", extra={"workers": len(new), "queues": len(queues)})
        return len(new)
