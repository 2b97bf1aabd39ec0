"""Risk events as incidents: raised once when a condition starts, posted again while it
persists past ``RECALL_ALERT_REPEAT_MINUTES``, ended when it clears.

A check (``pipeline.incident_checks``) reports, for one kind, the keys whose condition holds
now (a channel, a queue, a chain) with a masked detail line. ``reconcile`` compares them with
the open incidents of that kind: a new key opens one, a key still present keeps it (and
re-notifies it when due), an open incident whose key is gone ends. The decision itself is
the pure ``decide``; the notices are posted after the transaction commits, so a failed
commit never announces an incident that was not stored.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from pipeline.clock import as_utc
from pipeline.models import Incident
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

# The kinds a check can raise (a label in /metrics, a column on the dashboard).
FAILED_SENDS = "failed_sends"
QUEUE_STALLED = "queue_stalled"
DEAD_LETTERS = "dead_letters"
BROKER_LOST = "broker_lost"
AUDIT_BROKEN = "audit_broken"
QUERIES_OVERDUE = "queries_overdue"
WORKERS_DEAD = "workers_dead"
COMPLAINTS_OVERDUE = "complaints_overdue"
BUDGET_PASSED = "budget_passed"  # a campaign spent more than its file's budget
KINDS = (
    FAILED_SENDS,
    QUEUE_STALLED,
    DEAD_LETTERS,
    BROKER_LOST,
    AUDIT_BROKEN,
    QUERIES_OVERDUE,
    WORKERS_DEAD,
    COMPLAINTS_OVERDUE,
    BUDGET_PASSED,
)
DETAIL_MAX = 500


class Decision(enum.Enum):
    NONE = "none"  # no incident, no condition
    OPEN = "open"
    REMIND = "remind"  # still open, and the last notice is older than the repeat interval
    KEEP = "keep"
    CLOSE = "close"


def decide(
    is_open: bool,
    active: bool,
    last_notified_at: datetime | None,
    now: datetime,
    repeat: timedelta,
) -> Decision:
    """What one condition's check means for its incident (pure: unit-tested)."""
    if not is_open:
        return Decision.OPEN if active else Decision.NONE
    if not active:
        return Decision.CLOSE
    if last_notified_at is None or now - last_notified_at >= repeat:
        return Decision.REMIND
    return Decision.KEEP


@dataclass(frozen=True)
class Finding:
    """A condition that holds now: its kind, its key, and masked words on what was seen."""

    kind: str
    key: str
    detail: str


@dataclass(frozen=True)
class Notice:
    """An incident to announce: opened, still open (a reminder), or ended."""

    event: str  # "opened" | "ongoing" | "ended"
    kind: str
    key: str
    started_at: str
    detail: str

    @property
    def text(self) -> str:
        words = {"opened": "started", "ongoing": "still going on", "ended": "ended"}
        return (
            f"recall incident {words[self.event]}: {self.kind} {self.key} "
            f"(since {self.started_at}) {self.detail}"
        ).strip()

    def body(self) -> dict[str, str]:
        return {
            "text": self.text,
            "event": f"incident.{self.event}",
            "kind": self.kind,
            "key": self.key,
            "started_at": self.started_at,
            "detail": self.detail,
        }


def reconcile(
    session: Session, kind: str, findings: Iterable[Finding], now: datetime
) -> list[Notice]:
    """Bring the open incidents of ``kind`` in line with what its check found now."""
    repeat = timedelta(minutes=get_settings().alert_repeat_minutes)
    found = {f.key[:128]: f for f in findings if f.kind == kind}
    open_rows = {i.key: i for i in session.scalars(_open_of(kind)).all()}
    notices = []
    for key in sorted(found.keys() | open_rows.keys()):
        row, finding = open_rows.get(key), found.get(key)
        last = None if row is None else row.last_notified_at
        decision = decide(row is not None, finding is not None, last, now, repeat)
        notice = _apply(session, decision, row, finding, kind, key, now)
        if notice is not None:
            notices.append(notice)
    return notices


def _open_of(kind: str) -> Select[Incident]:
    return select(Incident).where(Incident.kind == kind, Incident.ended_at.is_(None))


def _apply(
    session: Session,
    decision: Decision,
    row: Incident | None,
    finding: Finding | None,
    kind: str,
    key: str,
    now: datetime,
) -> Notice | None:
    if decision is Decision.OPEN and finding is not None:
        row = Incident(kind=kind, key=key, started_at=now, detail=finding.detail[:DETAIL_MAX])
        session.add(row)
        return _notify(row, "opened", now)
    if row is None:
        return None
    if finding is not None:
        row.detail = finding.detail[:DETAIL_MAX]
    if decision is Decision.REMIND:
        return _notify(row, "ongoing", now)
    if decision is Decision.CLOSE:
        row.ended_at = now
        return _notify(row, "ended", now)
    return None


def _notify(row: Incident, event: str, now: datetime) -> Notice:
    row.last_notified_at = now
    row.notifications = (row.notifications or 0) + 1
    started = as_utc(row.started_at).isoformat(timespec="seconds")
    return Notice(event, row.kind, row.key, started, row.detail)


def announce(notices: list[Notice]) -> int:
    """Log each notice and post it to ``RECALL_ALERT_WEBHOOK_URL`` (call after commit);
    returns how many were posted."""
    # Imported here: pipeline.campaigns.deadlines imports the metrics module, which a
    # caller of the pure rules has no need of.
    from pipeline.campaigns.deadlines import post_alert

    url = get_settings().alert_webhook_url
    posted = 0
    for notice in notices:
        log.warning("incident.%s", notice.event, extra=notice.body())
        if url and post_alert(url, notice.body()):
            posted += 1
    return posted


@dataclass(frozen=True)
class IncidentRow:
    """One incident as the dashboard page and ``GET /api/incidents`` show it."""

    id: int
    kind: str
    key: str
    started_at: datetime
    ended_at: datetime | None
    last_notified_at: datetime | None
    notifications: int
    detail: str
    open: bool  # a field, not a property, so the JSON of /api/incidents carries it


def recent(session: Session, limit: int = 100) -> list[IncidentRow]:
    """Open incidents first, then the most recently started (the dashboard and the API)."""
    rows = session.scalars(
        select(Incident)
        .order_by(Incident.ended_at.is_not(None), Incident.started_at.desc(), Incident.id.desc())
        .limit(limit)
    ).all()
    return [
        IncidentRow(
            r.id,
            r.kind,
            r.key,
            r.started_at,
            r.ended_at,
            r.last_notified_at,
            r.notifications,
            r.detail,
            r.ended_at is None,
        )
        for r in rows
    ]


def counts_by_kind(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """(incidents ever raised, incidents open now) per kind, every kind present."""
    total = dict.fromkeys(KINDS, 0)
    open_now = dict.fromkeys(KINDS, 0)
    query = select(Incident.kind, Incident.ended_at.is_(None), func.count()).group_by(
        Incident.kind, Incident.ended_at.is_(None)
    )
    for kind, is_open, count in session.execute(query):
        total[kind] = total.get(kind, 0) + int(count)
        if is_open:
            open_now[kind] = open_now.get(kind, 0) + int(count)
    return total, open_now


def end(session: Session, kind: str, key: str, now: datetime, detail: str) -> list[Notice]:
    """End the open incident of (kind, key) with a last word on it (a repair's summary)."""
    row = session.scalar(_open_of(kind).where(Incident.key == key))
    if row is None:
        return []
    row.detail, row.ended_at = detail[:DETAIL_MAX], now
    return [_notify(row, "ended", now)]
