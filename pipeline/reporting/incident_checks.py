"""The conditions behind risk events (``pipeline.incidents``): each reads a few cheap
figures and returns the findings that hold now, with masked detail.

- failed sends: per channel, the attempts that finished in the window, by an index on
  ``attempt.completed_at``; a spike is at least a minimum count and a share;
- a stopped queue and dead letters: the broker's own figures (``actors.queues``, the ones
  the dashboard shows);
- the audit log: its newest rows checked against each other and against the row before
  them on their chain (the whole log stays ``recall audit verify``'s job);
- overdue queries: open queries flagged overdue (``pipeline.deadlines``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from pipeline.campaigns.deadlines import overdue_query_count
from pipeline.inbound.attempt_status import FAILED
from pipeline.models import Attempt, AuditEvent
from pipeline.privacy import audit
from pipeline.reporting.incidents import (
    AUDIT_BROKEN,
    DEAD_LETTERS,
    FAILED_SENDS,
    QUERIES_OVERDUE,
    QUEUE_STALLED,
    Finding,
)


class QueueFigures(Protocol):
    """What the checks need of one queue's figures: ``actors.queues.QueueStats`` is one
    (the core does not read Redis itself, so it names only the fields it reads)."""

    @property
    def name(self) -> str: ...
    @property
    def ready(self) -> int: ...
    @property
    def dead(self) -> int: ...
    @property
    def processed(self) -> int: ...
    @property
    def window_minutes(self) -> int: ...


def is_failure_spike(failed: int, finished: int, minimum: int, share: float) -> bool:
    """Pure: enough failures, and a large enough part of what finished."""
    return finished > 0 and failed >= minimum and failed / finished >= share


def failed_send_spikes(
    session: Session, now: datetime, window_minutes: int, minimum: int, share: float
) -> list[Finding]:
    since = now - timedelta(minutes=window_minutes)
    failed = func.sum(case((Attempt.status.in_(FAILED), 1), else_=0))
    query = (
        select(Attempt.channel, func.count(), failed)
        .where(Attempt.completed_at >= since)
        .group_by(Attempt.channel)
    )
    findings = []
    for channel, finished, failures in session.execute(query):
        failures = int(failures or 0)
        if is_failure_spike(failures, int(finished), minimum, share):
            detail = f"{failures} of {finished} sends failed in the last {window_minutes} min"
            findings.append(Finding(FAILED_SENDS, str(channel), detail))
    return findings


def is_stalled(stats: QueueFigures) -> bool:
    """Pure: messages wait to be taken, yet nothing was processed over the stats' window."""
    return stats.ready > 0 and stats.processed == 0


def stalled_queues(stats: Sequence[QueueFigures]) -> list[Finding]:
    return [
        Finding(
            QUEUE_STALLED,
            s.name,
            f"{s.ready} messages ready, none processed in {s.window_minutes} min",
        )
        for s in stats
        if is_stalled(s)
    ]


def dead_letter_queues(stats: Sequence[QueueFigures]) -> list[Finding]:
    return [
        Finding(DEAD_LETTERS, s.name, f"{s.dead} messages in the dead-letter queue")
        for s in stats
        if s.dead > 0
    ]


def overdue_queries(session: Session) -> list[Finding]:
    count = overdue_query_count(session)
    if not count:
        return []
    return [Finding(QUERIES_OVERDUE, "queries", f"{count} open queries are past their due time")]


def audit_breaks(session: Session, rows: int, after_id: int = 0) -> list[Finding]:
    """Verify the newest ``rows`` audit rows — only those after ``after_id`` when given (rows
    checked by an earlier run); a break is one finding for its chain. Each chain's first row
    in the window is checked against the row before it in the database, so a row that
    committed late below ``after_id`` never reads as a break."""
    if rows <= 0:
        return []
    newest = session.scalar(select(func.max(AuditEvent.id)))
    if newest is None:
        return []
    window = session.execute(
        select(*audit._COLUMNS)
        .where(AuditEvent.id > max(newest - rows, after_id))
        .order_by(AuditEvent.id)
    ).all()
    heads: dict[int, str] = {}
    key = audit.audit_key()
    for row in window:
        prev = heads.get(row.chain) or _hash_before(session, row.chain, row.id)
        reason = audit._check(row, prev, key)
        if reason is not None:
            detail = f"row {row.id} fails verify: {reason}"
            return [Finding(AUDIT_BROKEN, f"chain {row.chain}", detail)]
        heads[row.chain] = row.hash
    return []


@dataclass
class AuditWatch:
    """The periodic audit check's memory, so a run costs what was written since the last one
    and not the whole window: rows up to ``verified_id`` passed. Every ``full_every``-th run,
    and every run after a break was found, checks the whole window again, so an edit of a row
    already checked is found within ``full_every`` runs."""

    full_every: int = 10
    verified_id: int = 0
    runs: int = 0

    def breaks(self, session: Session, rows: int) -> list[Finding]:
        full = self.runs % self.full_every == 0
        after = 0 if full else self.verified_id
        newest = session.scalar(select(func.max(AuditEvent.id))) or 0
        findings = audit_breaks(session, rows, after)
        # A break: look at the whole window next time too, until it is gone.
        self.runs, self.verified_id = (0, 0) if findings else (self.runs + 1, newest)
        return findings


def _hash_before(session: Session, chain: int, row_id: int) -> str:
    """The hash of the row before ``row_id`` on its chain (an index lookup), or genesis."""
    found = session.scalar(
        select(AuditEvent.hash)
        .where(AuditEvent.chain == chain, AuditEvent.id < row_id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return found or audit.GENESIS_HASH
