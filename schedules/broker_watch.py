"""Noticing that the broker lost its data, so the scheduler can repair it at once.

A marker key per deployment (``<namespace>:broker:marker``) holds the run id of the Redis
server that carries the work. The marker missing (a flushed db, a restart without
persistence) or holding another run id (a restart, a failover: whatever the server kept,
messages of its last second may be gone) means messages were lost; the scheduler then
releases everything the database says is in flight (``pipeline.broker_loss``) and writes
the marker again. A first start looks the same as a loss, and repairing then is harmless:
everything re-enqueued is idempotent.
"""

from __future__ import annotations

import logging

import redis

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
