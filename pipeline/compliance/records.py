"""Compliance figures kept as records: the audit chain's verifications, the launch check
of the notices, risk events, erasure requests and complaints.

Erasure requests (roles/retention slice) and complaints (complaints slice) live in tables
of their own; where this database has none, the figure is ``None`` (not measured), never 0.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session

from pipeline.campaigns.file import CampaignSpec
from pipeline.clock import as_utc, utcnow
from pipeline.models import Attempt, AuditVerification, Campaign, Case, Incident
from pipeline.notices.check import STATEMENTS, template_errors
from pipeline.privacy.audit import AuditReport, canonical_json


def record_verification(session: Session, report: AuditReport, now: datetime | None = None) -> None:
    """Keep what one ``recall audit verify`` found (broken or not)."""
    session.add(
        AuditVerification(
            at=now or utcnow(),
            ok=report.ok,
            checked=report.checked,
            first_bad_id=report.first_bad_id,
            reason=report.reason,
            head_hash=report.head_hash,
        )
    )


def last_verification(session: Session) -> dict[str, Any]:
    row = session.scalar(
        select(AuditVerification).order_by(AuditVerification.at.desc(), AuditVerification.id.desc())
    )
    if row is None:
        return {"verified_at": None, "result": None, "checked": 0, "first_bad_id": None}
    return {
        "verified_at": _iso(row.at),
        "result": "intact" if row.ok else "broken",
        "checked": row.checked,
        "first_bad_id": row.first_bad_id,
    }


def notices_figure(session: Session, campaign: Campaign) -> dict[str, Any]:
    """Notices sent, and how many stated every part the policy requires (the launch check:
    a campaign whose notice misses a part does not launch, so either all or none did)."""
    sent = session.scalar(
        select(func.count())
        .select_from(Attempt)
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.campaign_id == campaign.id, Attempt.sent_at.is_not(None))
    )
    missing = statement_problems(campaign)
    return {
        "sent": int(sent or 0),
        "complete": 0 if missing else int(sent or 0),
        "missing": missing,
    }


def statement_problems(campaign: Campaign) -> list[str]:
    """The launch check's complaints about parts the notices fail to state."""
    return list(_statement_problems(canonical_json(campaign.spec or {})))


@lru_cache(maxsize=256)
def _statement_problems(spec_json: str) -> tuple[str, ...]:
    # Rendering every template takes most of a second; a campaign's file does not change
    # after launch, so the answer is kept per file.
    try:
        spec = CampaignSpec.model_validate(json.loads(spec_json))
    except ValueError as error:
        return (f"the stored campaign file no longer validates: {str(error).splitlines()[0]}",)
    words = tuple(text for _, text in STATEMENTS.values())
    return tuple(text for _, text in template_errors(spec) if any(w in text for w in words))


def risk_events(
    session: Session, campaign: Campaign, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Incidents that started while the campaign ran, and how fast each was reported: the
    first notice is posted when the incident opens, so a notified incident's delay is 0;
    ``None`` says it was never posted."""
    start = campaign.launched_at or campaign.created_at
    end = campaign.closed_at or now or utcnow()
    rows = session.scalars(
        select(Incident)
        .where(Incident.started_at >= start, Incident.started_at <= end)
        .where(or_(~Incident.key.like("campaign:%"), Incident.key == f"campaign:{campaign.id}"))
        .order_by(Incident.started_at)
    )
    return [
        {
            "kind": row.kind,
            "key": row.key,
            "started_at": _iso(row.started_at),
            "ended_at": _iso(row.ended_at),
            "reported_after_seconds": 0.0 if row.notifications else None,
        }
        for row in rows
    ]


def table_present(session: Session, name: str) -> bool:
    return inspect(session.connection()).has_table(name)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat(timespec="seconds")
