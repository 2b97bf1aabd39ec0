"""The scheduler's risk-event check: one job, every ``check_interval``, that reads a few
cheap figures (``pipeline.incident_checks``), brings the incidents in line with them
(``pipeline.incidents``) and posts what changed after the commit.

Broker loss is not polled here: the broker watch finds it every second and repairs it at
once, so ``broker_lost_started`` / ``broker_lost_repaired`` bracket that repair instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis
from sqlalchemy.orm import Session, sessionmaker

from actors.queues import queue_stats
from pipeline.clock import utcnow
from pipeline.complaints.overdue import overdue_complaints
from pipeline.cost import budget
from pipeline.reporting import incident_checks, incidents
from pipeline.reporting.incidents import Finding, Notice
from pipeline.settings import get_settings

log = logging.getLogger(__name__)
BROKER_KEY = "broker"
WORKERS_KEY = "workers"
# The kinds this job polls (broker loss is raised by the repair, see the module docstring).
POLLED = tuple(kind for kind in incidents.KINDS if kind != incidents.BROKER_LOST)


@dataclass
class IncidentWatch:
    """Evaluates every polled condition; Redis figures only when a broker client is given."""

    sessions: sessionmaker[Session]
    client: redis.Redis | None = None
    namespace: str = "recall"
    # Remembers how far the audit log was verified, so each run checks only newer rows.
    audit_watch: incident_checks.AuditWatch = field(default_factory=incident_checks.AuditWatch)

    def run(self) -> int:
        """One evaluation; returns how many incidents opened, were re-posted or ended."""
        now = utcnow()
        queue_findings = self._queue_findings()
        with self.sessions.begin() as session:
            findings = queue_findings + self._database_findings(session)
            notices: list[Notice] = []
            for kind in POLLED:
                if kind in _BROKER_KINDS and self.client is None:
                    continue  # no broker to look at: leave those incidents as they are
                notices += incidents.reconcile(session, kind, findings, now)
        incidents.announce(notices)  # after commit
        return len(notices)

    def _database_findings(self, session: Session) -> list[Finding]:
        settings = get_settings()
        return [
            *incident_checks.failed_send_spikes(
                session,
                utcnow(),
                settings.alert_failure_window_minutes,
                settings.alert_failure_min,
                settings.alert_failure_share,
            ),
            *self.audit_watch.breaks(session, settings.alert_audit_rows),
            *incident_checks.overdue_queries(session),
            *overdue_complaints(session, utcnow()),
            *budget.over_budget(session),
        ]

    def _queue_findings(self) -> list[Finding]:
        if self.client is None:
            return []
        window = get_settings().alert_queue_stall_minutes
        stats = queue_stats(self.client, self.namespace, now=utcnow(), window_minutes=window)
        return incident_checks.stalled_queues(stats) + incident_checks.dead_letter_queues(stats)


_BROKER_KINDS = (incidents.QUEUE_STALLED, incidents.DEAD_LETTERS)


def broker_lost_started(sessions: sessionmaker[Session], reason: str) -> None:
    """Open the broker-loss incident (posted at once) before the repair starts: a repair
    cut short leaves it open, and the next tick's repair finds it open, not new."""
    finding = Finding(incidents.BROKER_LOST, BROKER_KEY, f"the broker lost its data ({reason})")
    with sessions.begin() as session:
        notices = incidents.reconcile(session, incidents.BROKER_LOST, [finding], utcnow())
    incidents.announce(notices)


def broker_lost_repaired(sessions: sessionmaker[Session], summary: str) -> None:
    """End the broker-loss incident with what the repair re-enqueued."""
    with sessions.begin() as session:
        notices = incidents.end(session, incidents.BROKER_LOST, BROKER_KEY, utcnow(), summary)
    incidents.announce(notices)


def workers_died(sessions: sessionmaker[Session], count: int) -> None:
    """Workers killed without a goodbye are an event, not a state: their incident is opened
    and ended at once (both posted), their messages being back in their queues by then."""
    detail = f"{count} worker process(es) stopped without a goodbye"
    finding = Finding(incidents.WORKERS_DEAD, WORKERS_KEY, detail)
    now = utcnow()
    with sessions.begin() as session:
        notices = incidents.reconcile(session, incidents.WORKERS_DEAD, [finding], now)
        notices += incidents.end(
            session,
            incidents.WORKERS_DEAD,
            WORKERS_KEY,
            now,
            "their messages are back in their queues",
        )
    incidents.announce(notices)
