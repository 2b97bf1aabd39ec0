"""The scheduler's jobs. Each one only claims rows and enqueues messages, or calls one
``pipeline`` function that does; no job sends anything to a person itself, and no job holds
per-case state in memory: due work is read from ``recall_case.next_due_at`` every time.

A message is enqueued only after the transaction that claimed its case has committed, so a
worker never sees a case before its claim is visible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from actors.case import enqueue_notify
from actors.channel import send_followup
from actors.inbound_buffer import EventBuffer, drain_all
from actors.response import process
from pipeline.campaigns import deadlines, waves
from pipeline.cases import broker_loss, sweep
from pipeline.clock import utcnow
from pipeline.followups import outbox as followups
from pipeline.privacy import retention
from pipeline.remedies import reminders as remedy_reminders
from pipeline.reporting import snapshots, tallies
from pipeline.satisfaction import ask as satisfaction
from pipeline.settings import get_settings
from schedules import deadlines as deadline_job
from schedules.broker_watch import BrokerWatch, DeadWorkerSweep
from schedules.incident_job import (
    IncidentWatch,
    broker_lost_repaired,
    broker_lost_started,
    workers_died,
)
from schedules.scheduler import JobSpec

log = logging.getLogger(__name__)

# A due scan claims batches until one comes back short, but never more than this many
# batches per run, so one run cannot starve the others (the next run is seconds away).
MAX_BATCHES_PER_SCAN = 20


def enqueue_case_notify(case_ids: list[int]) -> None:
    """Enqueue the cases as ``case.notify_group`` messages: one pipelined round trip."""
    enqueue_notify(case_ids)


def send_response_process(event_id: int) -> None:
    """Enqueue ``response.process`` for one stored webhook."""
    process.send(event_id)


def send_staged_followup(follow_up: followups.StagedFollowUp) -> None:
    """Enqueue ``channel.send_followup`` for a follow-up whose row is written."""
    send_followup.send(follow_up.case_id, follow_up.channel, follow_up.kind, None, follow_up.key)


@dataclass
class Jobs:
    """The job functions, bound to a database and a way to enqueue ``case.notify``."""

    sessions: sessionmaker[Session]
    enqueue: Callable[[list[int]], None] = enqueue_case_notify
    send_process: Callable[[int], None] = send_response_process
    send_followup: Callable[[followups.StagedFollowUp], None] = field(
        default=lambda f: send_staged_followup(f)
    )
    batch_size: int = field(default_factory=lambda: get_settings().due_batch_size)
    # Redis only (the in-process broker cannot lose messages behind our back).
    broker_watch: BrokerWatch | None = None
    inbound_buffer: EventBuffer | None = None
    dead_workers: DeadWorkerSweep | None = None
    # Risk events (schedules.incident_job); built from ``sessions`` when not given.
    incident_watch: IncidentWatch | None = None

    def enqueue_due_cases(self) -> int:
        """Claim due cases in batches and enqueue each one; returns how many."""
        total = 0
        for _ in range(MAX_BATCHES_PER_SCAN):
            with self.sessions.begin() as session:
                case_ids = sweep.claim_due_cases(session, utcnow(), self.batch_size)
            if case_ids:  # after commit: the claim is visible to the worker
                self.enqueue(case_ids)
            total += len(case_ids)
            if len(case_ids) < self.batch_size:
                break
        if total:
            log.info("scheduler.due_enqueued", extra={"cases": total})
        return total

    def requeue_unhandled_events(self) -> int:
        """Hand stored webhooks whose message was lost back to ``response.process``: an
        answer already stored is never dropped by a wiped Redis or a killed worker."""
        with self.sessions.begin() as session:
            event_ids = sweep.claim_unhandled_events(session, utcnow(), self.batch_size)
        for event_id in event_ids:
            self.send_process(event_id)
        if event_ids:
            log.info("scheduler.inbound_requeued", extra={"events": len(event_ids)})
        return len(event_ids)

    def requeue_stranded_followups(self) -> int:
        """Hand follow-ups whose message was lost (the outbox, ``pipeline.followups.outbox``) back
        to ``channel.send_followup``: a confirmation is never lost with a worker."""
        with self.sessions.begin() as session:
            stranded = followups.claim_stranded_followups(session, utcnow(), self.batch_size)
        for follow_up in stranded:
            self.send_followup(follow_up)
        if stranded:
            log.info("scheduler.followups_requeued", extra={"follow_ups": len(stranded)})
        return len(stranded)

    def repair_broker_loss(self) -> int:
        """If the broker lost its data, hand back at once everything in flight (see
        ``pipeline.cases.broker_loss``), then enqueue what is due; returns the messages sent."""
        if self.broker_watch is None:
            return 0
        reason = self.broker_watch.lost()
        if reason is None:
            return 0
        log.warning("broker.lost", extra={"reason": reason})
        with self.sessions.begin() as session:
            released = broker_loss.release_in_flight(session, utcnow())
        for event_id in released.event_ids:
            self.send_process(event_id)
        for follow_up in released.follow_ups:
            self.send_followup(follow_up)
        cases = self.enqueue_due_cases()
        # A new deployment's first start finds no marker either: with nothing in flight,
        # nothing was lost and no one needs to be told.
        incident = reason != "marker_missing" or bool(
            released.cases or cases or released.event_ids or released.follow_ups
        )
        if incident:
            broker_lost_started(self.sessions, reason)
        self.broker_watch.mark()  # only now: a repair cut short is tried again next tick
        if incident:
            broker_lost_repaired(
                self.sessions,
                f"the broker lost its data ({reason}); re-enqueued {cases} cases, "
                f"{len(released.event_ids)} webhooks, {len(released.follow_ups)} follow-ups",
            )
        log.warning(
            "broker.repaired",
            extra={
                "reason": reason,
                "cases_released": released.cases,
                "cases_enqueued": cases,
                "events": len(released.event_ids),
                "follow_ups": len(released.follow_ups),
            },
        )
        return cases + len(released.event_ids) + len(released.follow_ups)

    def requeue_dead_workers_messages(self) -> int:
        """A worker killed without a goodbye: its messages go back to their queues."""
        dead = 0 if self.dead_workers is None else self.dead_workers.run()
        if dead:
            workers_died(self.sessions, dead)
        return dead

    def drain_inbound_buffer(self) -> int:
        """Store the webhooks the web kept in Redis while the database was away."""
        if self.inbound_buffer is None:
            return 0
        engine = self.sessions.kw["bind"]
        return drain_all(self.inbound_buffer, engine)

    def check_overdue_queries(self) -> int:
        with self.sessions.begin() as session:
            overdue = deadlines.overdue_queries(session, utcnow())
        # After commit: each is flagged exactly once. The post is the incident's
        # (check_incidents), one per spell of overdue queries rather than one per batch.
        deadline_job.alert_overdue(overdue, post=False)
        return len(overdue)

    def check_incidents(self) -> int:
        """Open, re-post or end risk-event incidents (schedules.incident_job)."""
        if self.incident_watch is None:
            self.incident_watch = IncidentWatch(self.sessions)
        return self.incident_watch.run()

    def close_expired_campaigns(self) -> int:
        with self.sessions.begin() as session:
            closed = deadline_job.close_expired_campaigns(session, utcnow())
        return len(closed)

    def run_follow_up_waves(self) -> int:
        # The wave only puts cases back to due; the next due scan enqueues them.
        with self.sessions.begin() as session:
            return waves.run_follow_up_waves(session, utcnow())

    def take_snapshots(self) -> int:
        with self.sessions.begin() as session:
            return len(snapshots.take_snapshots(session, utcnow()))

    def send_remedy_reminders(self) -> int:
        """Stage the one reminder of each agreed case whose remedy is late (the outbox row
        is its once), then hand them to ``channel.send_followup`` after commit."""
        with self.sessions.begin() as session:
            staged = remedy_reminders.stage_due_reminders(session, utcnow(), self.batch_size)
        for follow_up in staged:
            self.send_followup(follow_up)
        return len(staged)

    def ask_satisfaction(self) -> int:
        """Ask completed cases their one satisfaction question (``satisfaction: true``)."""
        delay = timedelta(seconds=get_settings().satisfaction_delay_seconds)
        with self.sessions.begin() as session:
            staged = satisfaction.stage_due_questions(
                session, utcnow(), self.batch_size, delay=delay
            )
        for follow_up in staged:
            self.send_followup(follow_up)
        return len(staged)

    def fold_tallies(self) -> int:
        """Fold the campaign counters' deltas (PostgreSQL only; SQLite keeps none)."""
        with self.sessions.begin() as session:
            if not tallies.kept_by(session.connection()):
                return 0
            return tallies.compact(session)

    def purge_expired_data(self) -> int:
        """RECALL_RETENTION_DAYS after a campaign closed, purge what it gathered about people
        (pipeline.privacy.retention); one campaign per run. Returns campaigns purged."""
        with self.sessions.begin() as session:
            done = retention.purge_due(session, utcnow(), get_settings().retention_days)
        if done is not None:
            log.info("scheduler.retention_purged", extra={"campaign_id": done.campaign_id})
        return 0 if done is None else 1


def standard_jobs(jobs: Jobs) -> list[JobSpec]:
    """The schedule: due work every few seconds, checks every half minute, snapshots a minute."""
    settings = get_settings()
    return [
        JobSpec("broker_watch", jobs.repair_broker_loss, settings.broker_watch_interval),
        JobSpec("inbound_buffer", jobs.drain_inbound_buffer, settings.broker_watch_interval),
        JobSpec("dead_workers", jobs.requeue_dead_workers_messages, settings.due_scan_interval),
        JobSpec("due_work", jobs.enqueue_due_cases, settings.due_scan_interval),
        JobSpec("lost_webhooks", jobs.requeue_unhandled_events, settings.check_interval),
        JobSpec("lost_follow_ups", jobs.requeue_stranded_followups, settings.check_interval),
        JobSpec("query_deadlines", jobs.check_overdue_queries, settings.check_interval),
        JobSpec("incidents", jobs.check_incidents, settings.check_interval),
        JobSpec("campaign_deadlines", jobs.close_expired_campaigns, settings.check_interval),
        JobSpec("follow_up_waves", jobs.run_follow_up_waves, settings.check_interval),
        JobSpec("metric_snapshots", jobs.take_snapshots, settings.snapshot_interval),
        JobSpec("tally_folding", jobs.fold_tallies, settings.tally_fold_interval),
        JobSpec("retention", jobs.purge_expired_data, settings.check_interval),
        JobSpec("remedy_reminders", jobs.send_remedy_reminders, settings.check_interval),
        JobSpec("satisfaction", jobs.ask_satisfaction, settings.check_interval),
    ]
