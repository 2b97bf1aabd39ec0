"""A scheduler process for the leader-election test: one job that marks the Redis list
``marks`` with this process's id, run only while this process holds the lock.

Usage: python leader_child.py REDIS_URL LOCK_KEY TTL_SECONDS MARKS_KEY
"""

from __future__ import annotations

import os
import signal
import sys
import time

import redis

from schedules.leader import LeaderLock, Leadership
from schedules.scheduler import JobSpec, RecallScheduler


def main() -> None:
    url, key, ttl, marks = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    client = redis.Redis.from_url(url)
    pid = os.getpid()

    def mark() -> None:
        client.rpush(marks, f"{pid} {time.time()}")

    scheduler = RecallScheduler(
        [JobSpec("mark", mark, 0.1)],
        leadership=Leadership(LeaderLock(redis.Redis.from_url(url), key, ttl)),
        blocking=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown())
    client.rpush(f"{marks}:started", pid)
    scheduler.start()


if __name__ == "__main__":
    main()
