"""Metric snapshots: each running campaign's counters at a moment, taken every minute by the
scheduler, so the dashboard can draw the completion rate over time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.clock import as_utc
from pipeline.models import Campaign, MetricSnapshot
from pipeline.reporting.metrics import campaign_status

# A paused campaign still receives answers, so its curve keeps moving.
SNAPSHOT_STATES = ("running", "paused")


def take_snapshots(session: Session, now: datetime) -> list[MetricSnapshot]:
    """One MetricSnapshot per running or paused campaign, at ``now``."""
    ids = session.scalars(
        select(Campaign.id).where(Campaign.state.in_(SNAPSHOT_STATES)).order_by(Campaign.id)
    ).all()
    taken = [snapshot_of(session, campaign_id, now) for campaign_id in ids]
    session.add_all(taken)
    session.flush()
    return taken


def snapshot_of(session: Session, campaign_id: int, now: datetime) -> MetricSnapshot:
    status = campaign_status(session, campaign_id, compliance=False)  # not kept: not read
    counts = {key: status.get(key) for key in ("cases", "states", "rates", "responses", "channels")}
    return MetricSnapshot(
        campaign_id=campaign_id,
        at=as_utc(now),
        completion=float(status["rates"]["completion"]),
        counts=counts,
    )


def snapshot_series(session: Session, campaign_id: int) -> list[tuple[datetime, float]]:
    """(moment, completion rate) pairs in time order: the dashboard's curve."""
    rows = session.execute(
        select(MetricSnapshot.at, MetricSnapshot.completion)
        .where(MetricSnapshot.campaign_id == campaign_id)
        .order_by(MetricSnapshot.at)
    )
    return [(as_utc(at), completion) for at, completion in rows]
