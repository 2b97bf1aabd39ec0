"""Deadlines: a campaign's own, and the answer-by time of each open query.

At a campaign's deadline every case still on the escalation ladder becomes ``unreachable``
(the state machine's ``deadline_passed``), the campaign closes and its final report is
written. Cases that answered keep their answer; an open query stays open for the agents.

An open query past its ``query_due_at`` is flagged (``query_overdue_at``), counted, and raises
an operational alert once: a structured log event, a Prometheus counter, and, when
``RECALL_ALERT_WEBHOOK_URL`` is set, a JSON POST for a chat channel. Alerts carry ids and
masked contact data only.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import Counter
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pipeline.cases.events import apply_event
from pipeline.cases.states import LADDER_STATES, CaseEvent, CaseState
from pipeline.clock import as_utc
from pipeline.db import lock_rows
from pipeline.models import Campaign, Case
from pipeline.privacy import audit
from pipeline.privacy.masking import mask_email, mask_phone
from pipeline.reporting import report
from pipeline.reporting.metrics import campaign_status
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

OVERDUE_QUERIES = Counter(
    "recall_overdue_queries_total", "Open queries that passed their answer-by time unanswered"
)
CAMPAIGNS_CLOSED = Counter(
    "recall_campaigns_closed_at_deadline_total", "Campaigns closed because their deadline passed"
)
# Campaign states a deadline can close (a cancelled or closed campaign is already settled).
OPEN_CAMPAIGN_STATES = ("running", "paused")
BATCH = 500


@dataclass(frozen=True)
class OverdueQuery:
    case_id: int
    campaign_id: int
    due_at: str
    contact: str  # masked


def close_expired_campaigns(session: Session, now: datetime) -> list[int]:
    """Close every open campaign whose deadline has passed; returns their ids."""
    due = select(Campaign).where(
        Campaign.state.in_(OPEN_CAMPAIGN_STATES), Campaign.deadline <= as_utc(now)
    )
    closed = []
    for campaign in session.scalars(lock_rows(session, due, of=Campaign, skip_locked=True)).all():
        close_campaign(session, campaign, now)
        closed.append(campaign.id)
    return closed


def close_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Take the campaign's open cases off the ladder, close it, write its final report.
    Returns how many cases became unreachable."""
    moved = _expire_open_cases(session, campaign.id, now)
    campaign.state = "closed"
    campaign.closed_at = as_utc(now)
    session.flush()
    campaign.final_report = campaign_status(session, campaign.id)
    audit.record(
        session,
        actor="scheduler",
        action="campaign.deadline_closed",
        entity=f"campaign:{campaign.id}",
        data={"unreachable_at_deadline": moved, "deadline": as_utc(campaign.deadline).isoformat()},
    )
    _write_report_files(session, campaign.id)
    CAMPAIGNS_CLOSED.inc()
    log.info("campaign.closed_at_deadline", extra={"campaign_id": campaign.id, "cases": moved})
    return moved


def _expire_open_cases(session: Session, campaign_id: int, now: datetime) -> int:
    ladder = [state.value for state in LADDER_STATES]
    moved, after_id = 0, 0
    while True:
        batch = session.scalars(
            select(Case)
            .where(Case.campaign_id == campaign_id, Case.state.in_(ladder), Case.id > after_id)
            .order_by(Case.id)
            .limit(BATCH)
        ).all()
        for case in batch:
            apply_event(session, case, CaseEvent.DEADLINE_PASSED, now=now, actor="scheduler")
        session.flush()
        moved += len(batch)
        if len(batch) < BATCH:
            return moved
        after_id = batch[-1].id


def _write_report_files(session: Session, campaign_id: int) -> None:
    directory = get_settings().report_dir
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    for fmt in report.FORMATS:
        path = Path(directory) / f"campaign-{campaign_id}-final.{fmt}"
        path.write_text(report.render_report(session, campaign_id, fmt), encoding="utf-8")


def overdue_queries(session: Session, now: datetime) -> list[OverdueQuery]:
    """Flag open queries past their answer-by time that are not flagged yet; returns them.
    A flag older than the current ``query_due_at`` belongs to an earlier query of the case."""
    stale = select(Case).where(
        Case.state == CaseState.QUERY_OPEN.value,
        Case.query_due_at <= as_utc(now),
        or_(Case.query_overdue_at.is_(None), Case.query_overdue_at < Case.query_due_at),
    )
    found = []
    for case in session.scalars(lock_rows(session, stale, of=Case, skip_locked=True)).all():
        case.query_overdue_at = as_utc(now)
        found.append(_describe(case))
    return found


def _describe(case: Case) -> OverdueQuery:
    person = case.recipient
    contact = mask_phone(person.phone) if person.phone else mask_email(person.email or "")
    due = as_utc(case.query_due_at).isoformat() if case.query_due_at else ""
    return OverdueQuery(case.id, case.campaign_id, due, contact)


def overdue_query_count(session: Session, campaign_id: int | None = None) -> int:
    """Open queries that are flagged overdue now (for metrics and the dashboard)."""
    query = (
        select(func.count())
        .select_from(Case)
        .where(Case.state == CaseState.QUERY_OPEN.value, Case.query_overdue_at.is_not(None))
    )
    if campaign_id is not None:
        query = query.where(Case.campaign_id == campaign_id)
    return int(session.scalar(query) or 0)


def alert_overdue(overdue: list[OverdueQuery], *, post: bool = True) -> None:
    """Raise the operational alert for newly overdue queries (call after commit); the
    scheduler leaves the post to the ``queries_overdue`` incident (``post=False``)."""
    if not overdue:
        return
    OVERDUE_QUERIES.inc(len(overdue))
    for item in overdue:
        log.warning("query.overdue", extra=asdict(item))
    url = get_settings().alert_webhook_url
    if url and post:
        post_alert(url, _alert_body(overdue))


def _alert_body(overdue: list[OverdueQuery]) -> dict[str, Any]:
    shown = overdue[:20]
    lines = [
        f"case {q.case_id} (campaign {q.campaign_id}, {q.contact}) due {q.due_at}" for q in shown
    ]
    more = f"\n…and {len(overdue) - len(shown)} more" if len(overdue) > len(shown) else ""
    return {
        "text": f"recall: {len(overdue)} open queries are overdue\n" + "\n".join(lines) + more,
        "event": "query.overdue",
        "queries": [asdict(q) for q in overdue],
    }


def post_alert(url: str, body: dict[str, Any]) -> bool:
    """POST an alert to the chat webhook; a failing chat service never stops the scheduler."""
    try:
        response = httpx.post(url, json=body, timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as error:
        log.warning("alert.webhook_failed", extra={"error": str(error)})
        return False
    return True
