"""Leader election with one Redis key, so exactly one scheduler acts at a time.

Every scheduler process tries ``SET key token NX PX ttl``; the one that succeeds is the leader
and renews the key every third of the ttl with a script that extends it only if it still
holds this process's token. A leader that dies stops renewing and the key expires, so another
scheduler takes over within one ttl. A leader that cannot renew (Redis unreachable, or the key
was lost) stops acting at once, and in any case once its last renewal is older than the ttl
minus a safety margin — before any other process could have been elected.

This is why APScheduler 3's job store is in memory per process: the lock, not a shared job
store, decides who runs jobs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

# Extend the key only if it is still ours: a stale leader must never extend a successor's lock.
RENEW_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class LeaderLock:
    """One attempt at holding ``key``; knows until when it may believe it holds it."""

    def __init__(self, client: redis.Redis, key: str, ttl_seconds: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(int(ttl_seconds * 1000), 100)
        self.token = uuid.uuid4().hex
        self._valid_until = 0.0
        self._renew = client.register_script(RENEW_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)

    def acquire(self) -> bool:
        started = time.monotonic()
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            self._valid_until = started + self._trusted_seconds()
            return True
        return False

    def renew(self) -> bool:
        started = time.monotonic()
        if self._renew(keys=[self.key], args=[self.token, self.ttl_ms]) == 1:
            self._valid_until = started + self._trusted_seconds()
            return True
        self._valid_until = 0.0
        return False

    def release(self) -> None:
        self._valid_until = 0.0
        self._release(keys=[self.key], args=[self.token])

    def held(self) -> bool:
        """True while this process may act as leader (by its own clock, not Redis's)."""
        return time.monotonic() < self._valid_until

    def _trusted_seconds(self) -> float:
        # Stop believing a little before Redis expires the key (clock drift, slow replies).
        return self.ttl_ms / 1000 * 0.8


class Leadership:
    """A background thread that keeps trying to become, and stay, the leader."""

    def __init__(
        self,
        lock: LeaderLock,
        *,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.lock = lock
        self.on_change = on_change
        self.interval = lock.ttl_ms / 1000 / 3
        self._was_leader = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler-leadership", daemon=True)

    def is_leader(self) -> bool:
        return self.lock.held() and not self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval * 2 + 1)
        if self._was_leader:
            try:
                self.lock.release()
            except redis.RedisError as error:
                log.warning("scheduler.leader_release_failed", extra={"error": str(error)})
            self._changed(False)

    def tick(self) -> bool:
        """One round: renew if leader, else try to acquire. Returns leadership after it."""
        try:
            leader = self.lock.renew() if self._was_leader else self.lock.acquire()
            if self._was_leader and not leader:
                # The key vanished (a wiped Redis) rather than passed on: take it back now,
                # not a tick later; SET NX fails if another scheduler holds it.
                leader = self.lock.acquire()
        except redis.RedisError as error:
            log.warning("scheduler.leader_redis_error", extra={"error": str(error)})
            leader = self.lock.held()  # keep acting only while the last renewal still holds
        if leader != self._was_leader:
            self._changed(leader)
        return leader

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def _changed(self, leader: bool) -> None:
        self._was_leader = leader
        log.info(
            "scheduler.leadership",
            extra={"leader": leader, "token": self.lock.token[:8], "key": self.lock.key},
        )
        if self.on_change is not None:
            self.on_change(leader)
