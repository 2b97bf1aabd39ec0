"""Complaint statistics: by period (ISO week), type, channel and outcome, and the share
handled within each deadline — the figures the complaint policy asks for. One function,
read by ``recall complaints``, the dashboard page and the status JSON alike.

A deadline counts once it is decided: a stage done (in time or late), or a stage still open
past its deadline (late). A stage still open before its deadline is not counted yet.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.clock import as_utc
from pipeline.complaints.classify import TYPES
from pipeline.complaints.stages import (
    CLOSED,
    DEADLINE_NAMES,
    OUTCOMES,
    deadline_name,
    routed_in_time,
)
from pipeline.models import Complaint, ComplaintStep


def week_of(moment: datetime) -> str:
    year, week, _ = as_utc(moment).isocalendar()
    return f"{year}-W{week:02d}"


def complaint_stats(
    session: Session,
    now: datetime,
    *,
    since: date | None = None,
    campaign_id: int | None = None,
) -> dict[str, Any]:
    """The statistics of the complaints opened since ``since`` (all when None)."""
    query = select(Complaint)
    if since is not None:
        query = query.where(
            Complaint.opened_at >= datetime.combine(since, time.min, as_utc(now).tzinfo)
        )
    if campaign_id is not None:
        query = query.where(Complaint.campaign_id == campaign_id)
    complaints = list(session.scalars(query.order_by(Complaint.id)))
    return {
        "total": len(complaints),
        "open": sum(c.stage != CLOSED for c in complaints),
        "closed": sum(c.stage == CLOSED for c in complaints),
        "reopened": sum(c.reopened > 0 for c in complaints),
        "overdue": sum(c.due_at is not None and c.due_at < now for c in complaints),
        "by_week": dict(sorted(Counter(week_of(c.opened_at) for c in complaints).items())),
        "by_type": _counts((c.type for c in complaints), TYPES),
        "by_channel": dict(sorted(Counter(c.channel or "unknown" for c in complaints).items())),
        "by_outcome": _counts((c.outcome or "open" for c in complaints), (*OUTCOMES, "open")),
        "by_stage": dict(sorted(Counter(c.stage for c in complaints).items())),
        "deadlines": _deadlines(session, complaints, now),
    }


def _counts(values: Any, keys: tuple[str, ...]) -> dict[str, int]:
    counted = Counter(values)
    return {key: counted.get(key, 0) for key in keys} | dict(counted)


def _deadlines(
    session: Session, complaints: list[Complaint], now: datetime
) -> dict[str, dict[str, Any]]:
    met: Counter[str] = Counter()
    due: Counter[str] = Counter()
    for c in complaints:
        due["routing"] += 1
        met["routing"] += routed_in_time(c.opened_at, c.routed_at)
    ids = [c.id for c in complaints]
    steps: list[ComplaintStep] = []
    if ids:
        steps = list(
            session.scalars(
                select(ComplaintStep).where(
                    ComplaintStep.complaint_id.in_(ids), ComplaintStep.due_at.is_not(None)
                )
            )
        )
    for step in steps:
        name = deadline_name(step.stage)
        if name is None or step.due_at is None:
            continue
        if step.done_at is not None:
            due[name] += 1
            met[name] += bool(step.met)
        elif step.due_at < now:
            due[name] += 1
    return {
        name: {
            "due": due[name],
            "met": met[name],
            "share": round(met[name] / due[name], 4) if due[name] else None,
        }
        for name in DEADLINE_NAMES
    }
