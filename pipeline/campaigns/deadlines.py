"""Deadlines: a campaign's own, and the answer-by time of each open query.

At a campaign's deadline every case still on the escalation ladder becomes ``unreachable``
(the state machine's ``deadline_passed``), the campaign closes and its final report is kept
on it (``final_report``). Cases that answered keep their answer; an open query stays open
for the agents.

An open query past its ``query_due_at`` is flagged (``query_overdue_at``) once and returned,
with ids and masked contact data only.

This module decides and records; it writes no file and keeps no counter. The scheduler
(``schedules.deadlines``) writes the closed campaigns' report files, counts both events for
Prometheus and raises the overdue-query alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pipeline.cases.events import apply_event
from pipeline.cases.states import LADDER_STATES, CaseEvent, CaseState
from pipeline.clock import as_utc
from pipeline.db import lock_rows
from pipeline.models import Campaign, Case
from pipeline.privacy import audit
from pipeline.privacy.masking import mask_email, mask_phone
from pipeline.reporting.metrics import campaign_status

log = logging.getLogger(__name__)

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
    """Close every open campaign whose deadline has passed; returns their ids (the caller
    writes their final report files, see ``schedules.deadlines``)."""
    due = select(Campaign).where(
        Campaign.state.in_(OPEN_CAMPAIGN_STATES), Campaign.deadline <= as_utc(now)
    )
    closed = []
    for campaign in session.scalars(lock_rows(session, due, of=Campaign, skip_locked=True)).all():
        close_campaign(session, campaign, now)
        closed.append(campaign.id)
    return closed


def close_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Take the campaign's open cases off the ladder, close it, keep its final report
    (``final_report``). Returns how many cases became unreachable."""
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


def overdue_queries(session: Session, now: datetime) -> list[OverdueQuery]:
    """Flag open queries past their answer-by time that are not flagged yet; returns them.
    A flag older than the current ``query_due_at`` belongs to an earlier query of the case."""
    # Read through ix_case_query_due (open queries only); case order, whatever the plan.
    stale = (
        select(Case)
        .where(
            Case.state == CaseState.QUERY_OPEN.value,
            Case.query_due_at <= as_utc(now),
            or_(Case.query_overdue_at.is_(None), Case.query_overdue_at < Case.query_due_at),
        )
        .order_by(Case.id)
    )
    # A stable order for the alert, whatever plan the database picks.
    stale = stale.order_by(Case.id)
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


def post_alert(url: str, body: dict[str, Any]) -> bool:
    """POST an alert to the chat webhook; a failing chat service never stops the scheduler."""
    try:
        response = httpx.post(url, json=body, timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as error:
        log.warning("alert.webhook_failed", extra={"error": str(error)})
        return False
    return True
