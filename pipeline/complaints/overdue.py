"""Overdue complaint stages, for the inbox's flag and the incident alerts: one finding per
stage that has complaints past their deadline (``pipeline.reporting.incidents``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.complaints.stages import CLOSED
from pipeline.models import Complaint
from pipeline.reporting.incidents import COMPLAINTS_OVERDUE, Finding


def overdue_by_stage(session: Session, now: datetime) -> dict[str, int]:
    """{stage: open complaints past that stage's deadline}."""
    rows = session.execute(
        select(Complaint.stage, func.count())
        .where(Complaint.stage != CLOSED, Complaint.due_at < now)
        .group_by(Complaint.stage)
    )
    return {str(stage): int(count) for stage, count in rows}


def overdue_complaints(session: Session, now: datetime) -> list[Finding]:
    return [
        Finding(COMPLAINTS_OVERDUE, stage, f"{count} complaint(s) past the {stage} deadline")
        for stage, count in sorted(overdue_by_stage(session, now).items())
    ]
