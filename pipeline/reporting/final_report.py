"""The final report's content, as data: what was done, when, how many, what users said and
the four measures (completion, satisfaction, cost, compliance), with the completion and
answer curves from the metric snapshots. ``report.py`` renders it as HTML, CSV or JSON; the
layer above writes the files.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.clock import as_utc, utcnow
from pipeline.errors import NotFound
from pipeline.models import Campaign, MetricSnapshot
from pipeline.privacy.figures import privacy_figures
from pipeline.reporting import metrics, views

# Status keys other slices add (remedies, refusals, satisfaction): shown when present.
OPTIONAL_MEASURES = ("satisfaction", "refusals", "remedies")


def report_data(session: Session, campaign_id: int) -> dict[str, Any]:
    """Everything the final report says, JSON-ready. Raises NotFound."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    summary = campaign.final_report or metrics.campaign_status(session, campaign_id)
    if "cost" not in summary or "compliance" not in summary:
        # A summary stored before cost and compliance were measured: take today's.
        live = metrics.campaign_status(session, campaign_id)
        summary = {**summary, "cost": live["cost"], "compliance": live["compliance"]}
    # Read live: a retention purge or an erasure may come after the final report was frozen.
    summary = {**summary, **privacy_figures(session, campaign)}
    counts = metrics.campaign_counts(session, campaign_id)
    return {
        "campaign": campaign_facts(campaign),
        "generated_at": _iso(utcnow()),
        "summary": summary,
        "funnel": [{"stage": s, "cases": n} for s, n in views.funnel(counts)],
        "per_channel": views.channel_results(counts),
        "per_step": views.step_results(counts),
        "curves": curves(session, campaign, summary),
    }


def campaign_facts(campaign: Campaign) -> dict[str, Any]:
    """What was done and when."""
    spec = campaign.spec or {}
    return {
        "id": campaign.id,
        "name": campaign.name,
        "reason": campaign.reason,
        "purpose": spec.get("purpose"),
        "description": campaign.description,
        "remedy": campaign.remedy,
        "state": campaign.state,
        "escalation": [
            {"channel": step.get("channel"), "wait": step.get("wait")}
            for step in spec.get("escalation") or []
        ],
        "created_at": _iso(campaign.created_at),
        "launched_at": _iso(campaign.launched_at),
        "deadline": _iso(campaign.deadline),
        "closed_at": _iso(campaign.closed_at),
    }


def curves(session: Session, campaign: Campaign, summary: dict[str, Any]) -> dict[str, Any]:
    """Completion and answer (response) rate over time: the snapshots, then the summary's
    figure at the close (or now), so a curve always ends at the reported value."""
    rows = session.execute(
        select(MetricSnapshot.at, MetricSnapshot.completion, MetricSnapshot.counts)
        .where(MetricSnapshot.campaign_id == campaign.id)
        .order_by(MetricSnapshot.at)
    )
    completion: list[tuple[float, float]] = []
    answers: list[tuple[float, float]] = []
    for at, done, counts in rows:
        moment = as_utc(at).timestamp()
        completion.append((moment, float(done)))
        answers.append((moment, float(((counts or {}).get("rates") or {}).get("response", 0.0))))
    if not completion and campaign.launched_at is not None:
        start = as_utc(campaign.launched_at).timestamp()
        completion.append((start, 0.0))
        answers.append((start, 0.0))
    end = as_utc(campaign.closed_at or utcnow()).timestamp()
    rates = summary.get("rates") or {}
    completion.append((end, float(rates.get("completion", 0.0))))
    answers.append((end, float(rates.get("response", 0.0))))
    return {"completion": completion, "answers": answers}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat(timespec="seconds")


ENDED_STATES = ("closed", "cancelled")


def ended_campaigns(session: Session) -> list[int]:
    """Campaigns that closed (at their deadline) or were cancelled: each owes a final report."""
    query = select(Campaign.id).where(Campaign.state.in_(ENDED_STATES)).order_by(Campaign.id)
    return list(session.scalars(query))
