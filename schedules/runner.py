"""Ways to run the scheduler: the ``recall scheduler`` process (blocking, Redis-elected) and
the embedded one inside ``recall demo`` (a background thread, no lock: it is alone)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from actors.inbound_buffer import EventBuffer
from pipeline.db import session_factory
from pipeline.privacy.masking import configure_logging
from pipeline.settings import Settings
from schedules.broker_watch import BrokerWatch, DeadWorkerSweep
from schedules.incident_job import IncidentWatch
from schedules.jobs import Jobs, enqueue_case_notify, standard_jobs
from schedules.leader import Leadership
from schedules.scheduler import RecallScheduler, leader_lock_for

log = logging.getLogger(__name__)


def run_scheduler_process(settings: Settings) -> None:
    """Compete for leadership and run the jobs while leader, until SIGINT or SIGTERM."""
    configure_logging(settings.log_level)
    leadership = Leadership(leader_lock_for(settings))
    scheduler = RecallScheduler(
        standard_jobs(process_jobs(settings)), leadership=leadership, blocking=True
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler.signal", extra={"signal": signal.Signals(signum).name})
        scheduler.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()  # returns once shutdown() has run


def process_jobs(settings: Settings) -> Jobs:
    """The jobs of the ``recall scheduler`` process, with the Redis-only watches a shared
    broker needs: broker loss, webhooks buffered while the database was away, and the
    messages of workers that died without a goodbye."""
    jobs = Jobs(session_factory())
    if settings.broker_url:
        url, namespace = settings.broker_url, settings.broker_namespace
        jobs.broker_watch = BrokerWatch.for_url(url, namespace)
        jobs.inbound_buffer = EventBuffer.for_broker(url, namespace)
        jobs.dead_workers = DeadWorkerSweep(url, namespace)
        jobs.incident_watch = IncidentWatch(jobs.sessions, jobs.broker_watch.client, namespace)
    return jobs


def start_embedded_scheduler(
    sessions: sessionmaker[Session] | None = None,
    enqueue: Callable[[list[int]], None] = enqueue_case_notify,
) -> RecallScheduler:
    """Start the jobs in a background thread of this process; call ``shutdown()`` to stop."""
    scheduler = RecallScheduler(standard_jobs(Jobs(sessions or session_factory(), enqueue)))
    scheduler.start()
    return scheduler
