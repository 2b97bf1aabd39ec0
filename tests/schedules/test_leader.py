"""Leader election on a real Redis: two schedulers, one acts; the holder dies, the other
takes over within the lock's expiry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from schedules.leader import LeaderLock, Leadership

pytestmark = pytest.mark.redis

TTL = 2.0
CHILD = Path(__file__).with_name("leader_child.py")


def marks(client: redis.Redis, key: str) -> list[tuple[int, float]]:
    rows = [raw.decode().split() for raw in client.lrange(key, 0, -1)]
    return [(int(pid), float(at)) for pid, at in rows]


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_lock_is_exclusive_and_token_checked(redis_url: str) -> None:
    first = LeaderLock(redis.Redis.from_url(redis_url), "t:leader", TTL)
    second = LeaderLock(redis.Redis.from_url(redis_url), "t:leader", TTL)
    assert first.acquire() and first.held()
    assert not second.acquire() and not second.held()
    # The other process's renew and release must not touch a lock it does not hold.
    assert not second.renew()
    second.release()
    assert first.renew()
    first.release()
    assert not first.held()
    assert second.acquire()


def test_lock_expires_when_not_renewed(redis_url: str) -> None:
    first = LeaderLock(redis.Redis.from_url(redis_url), "t:leader", 0.3)
    second = LeaderLock(redis.Redis.from_url(redis_url), "t:leader", 0.3)
    assert first.acquire()
    time.sleep(0.4)
    assert not first.held()  # stopped believing before Redis expired it
    assert second.acquire()
    assert not first.renew()


def test_leader_that_loses_the_key_stops_acting(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    changes: list[bool] = []
    leadership = Leadership(LeaderLock(client, "t:leader", TTL), on_change=changes.append)
    assert leadership.tick() and leadership.is_leader()
    client.set("t:leader", "someone-else")  # e.g. Redis restarted and another won
    assert not leadership.tick()
    assert not leadership.is_leader()
    assert changes == [True, False]


def test_threads_with_separate_clients_elect_one(redis_url: str) -> None:
    elected: list[int] = []
    barrier = threading.Barrier(5)

    def contend(n: int) -> None:
        leadership = Leadership(LeaderLock(redis.Redis.from_url(redis_url), "t:leader", TTL))
        barrier.wait()
        if leadership.tick():
            elected.append(n)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(elected) == 1


@pytest.mark.slow
def test_two_scheduler_processes_one_acts_then_failover(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    args = [redis_url, "t:scheduler:leader", str(TTL), "t:marks"]
    children = [subprocess.Popen([sys.executable, str(CHILD), *args], env=env) for _ in range(2)]
    try:
        assert wait_for(lambda: client.llen("t:marks:started") == 2, 20)
        time.sleep(TTL * 1.5)  # several renewals and several chances for the other to act
        acting = {pid for pid, _ in marks(client, "t:marks")}
        assert len(acting) == 1, f"more than one scheduler acted: {acting}"
        (holder,) = acting
        standby = next(child for child in children if child.pid != holder)

        os.kill(holder, signal.SIGKILL)
        killed_at = time.time()
        assert wait_for(lambda: standby.pid in {p for p, _ in marks(client, "t:marks")}, TTL * 3)
        first_by_standby = min(at for pid, at in marks(client, "t:marks") if pid == standby.pid)
        # Takeover within the lock's expiry plus one acquisition round (ttl / 3), and one
        # second for the job's next tick on a busy machine.
        assert first_by_standby - killed_at <= TTL + TTL / 3 + 1.0
        # Never both: every mark after the takeover is the standby's.
        assert all(pid == standby.pid for pid, at in marks(client, "t:marks") if at > killed_at)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
                child.wait(timeout=10)


def test_scheduler_stops_acting_when_leadership_is_lost(redis_url: str) -> None:
    from schedules.scheduler import JobSpec, RecallScheduler

    client = redis.Redis.from_url(redis_url)
    runs: list[float] = []
    leadership = Leadership(LeaderLock(redis.Redis.from_url(redis_url), "t:leader", 0.6))
    scheduler = RecallScheduler(
        [JobSpec("mark", lambda: runs.append(time.monotonic()), 0.05)], leadership=leadership
    )
    scheduler.start()
    try:
        assert wait_for(lambda: len(runs) >= 3, 5)
        client.set("t:leader", "another-scheduler")  # the lock now belongs to someone else
        lost_at = time.monotonic()
        time.sleep(0.6)  # one renewal round (ttl / 3) plus the trust margin has passed
        late = [at for at in runs if at > lost_at + 0.6 * 0.8]
        assert late == []
        assert not leadership.is_leader()
    finally:
        scheduler.shutdown()
    assert client.get("t:leader") == b"another-scheduler"  # shutdown released nothing of theirs


def test_graceful_shutdown_hands_over_at_once(redis_url: str) -> None:
    first = Leadership(LeaderLock(redis.Redis.from_url(redis_url), "t:leader", 30))
    second = Leadership(LeaderLock(redis.Redis.from_url(redis_url), "t:leader", 30))
    assert first.tick() and not second.tick()
    first.stop()
    assert second.tick()  # no need to wait 30 s for the key to expire
