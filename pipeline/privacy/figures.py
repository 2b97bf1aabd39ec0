"""A campaign's privacy figures for the status JSON and the report: its stated ``purpose``,
its people's consent bases, the erasures done while it ran, and its retention purge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.campaigns.consent import CONSENT_BASES, NOT_STATED
from pipeline.models import Campaign, Case, ErasureRequest, Recipient
from pipeline.settings import get_settings


def consent_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """{basis: people}, every basis present, plus ``not_stated``."""
    found = session.execute(
        select(Recipient.consent, func.count())
        .join(Case, Case.recipient_id == Recipient.id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Recipient.consent)
    ).all()
    counts = dict.fromkeys((*CONSENT_BASES, NOT_STATED), 0)
    for basis, count in found:
        key = basis if basis in CONSENT_BASES else NOT_STATED
        counts[key] += count
    return counts


def erasures_during(session: Session, campaign: Campaign) -> list[dict[str, Any]]:
    """The erasure requests done while the campaign ran (launch to close, or to now)."""
    start = campaign.launched_at or campaign.created_at
    query = select(ErasureRequest).where(ErasureRequest.done_at >= start)
    if campaign.closed_at is not None:
        query = query.where(ErasureRequest.done_at <= campaign.closed_at)
    rows = session.scalars(query.order_by(ErasureRequest.done_at)).all()
    return [
        {
            "recipient_id": row.recipient_id,
            "asked_at": _iso(row.asked_at),
            "done_at": _iso(row.done_at),
        }
        for row in rows
    ]


def privacy_figures(session: Session, campaign: Campaign) -> dict[str, Any]:
    """``purpose``, ``consent``, ``erasures`` and ``retention`` for the status JSON."""
    days = get_settings().retention_days
    return {
        "purpose": (campaign.spec or {}).get("purpose"),
        "consent": consent_counts(session, campaign.id),
        "erasures": erasures_during(session, campaign),
        "retention": {"days": days, "purged_at": _iso(campaign.purged_at)},
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
