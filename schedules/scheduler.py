"""The scheduler process: APScheduler 3 interval jobs that only enqueue work.

Several ``recall scheduler`` processes may run for availability; each keeps its jobs in its
own in-memory job store (APScheduler 3 must not share a job store between running
schedulers) and runs them only while it holds the Redis leader lock (``schedules.leader``).
Every process ticks; only the leader acts. The embedded variant inside ``recall demo`` runs
the same jobs in a background thread with no lock, since it is the only scheduler there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from pipeline.clock import utcnow
from pipeline.settings import Settings
from schedules.leader import LeaderLock, Leadership

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    name: str
    run: Callable[[], object]
    every_seconds: float


def leader_lock_for(settings: Settings) -> LeaderLock:
    """The lock every scheduler of this deployment competes for (one key per namespace)."""
    if not settings.broker_url:
        raise ValueError("leader election needs RECALL_BROKER_URL (a Redis URL)")
    client = redis.Redis.from_url(settings.broker_url, socket_timeout=5)
    key = f"{settings.broker_namespace}:scheduler:leader"
    return LeaderLock(client, key, settings.scheduler_lock_ttl)


class RecallScheduler:
    """APScheduler with the jobs registered, gated by leadership when one is given."""

    def __init__(
        self,
        jobs: list[JobSpec],
        *,
        leadership: Leadership | None = None,
        blocking: bool = False,
    ) -> None:
        self.leadership = leadership
        options = {
            "jobstores": {"default": MemoryJobStore()},
            "executors": {"default": ThreadPoolExecutor(max(len(jobs), 1))},
            # A job that overran or a process that paused runs once, not once per miss.
            "job_defaults": {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            "timezone": "UTC",
        }
        self.scheduler: BaseScheduler = (
            BlockingScheduler(**options) if blocking else BackgroundScheduler(**options)
        )
        for job in jobs:
            self.scheduler.add_job(
                self._guarded(job),
                "interval",
                seconds=job.every_seconds,
                id=job.name,
                name=job.name,
                next_run_time=utcnow(),
            )

    def acting(self) -> bool:
        return self.leadership is None or self.leadership.is_leader()

    def start(self) -> None:
        """Starts electing and ticking; blocks until shutdown for the blocking variant."""
        if self.leadership is not None:
            self.leadership.start()
        log.info("scheduler.started", extra={"jobs": [job.id for job in self.scheduler.get_jobs()]})
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stops ticking, waits for running jobs, then gives up the lock at once."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.leadership is not None:
            self.leadership.stop()
        log.info("scheduler.stopped")

    def _guarded(self, job: JobSpec) -> Callable[[], None]:
        def run() -> None:
            if not self.acting():
                return
            started = time.monotonic()
            try:
                job.run()
            except Exception:
                # One failed run must not stop the schedule; the next tick tries again.
                log.exception("scheduler.job_failed", extra={"job": job.name})
                return
            elapsed = time.monotonic() - started
            log.debug("scheduler.job_done", extra={"job": job.name, "seconds": elapsed})

        run.__name__ = job.name
        return run
