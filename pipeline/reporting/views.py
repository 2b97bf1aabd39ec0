"""What the dashboard shows about campaigns: the list, the funnel, per-channel and per-step
results, cost, the slowest answers and the completion rate over time.

The figures are ``recall status``'s (``pipeline.reporting.metrics``: the tallies PostgreSQL keeps,
or
grouped queries on SQLite), so the dashboard and the CLI never disagree and a campaign of a
million cases draws without scanning it; only the slowest answers read cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.clock import utcnow
from pipeline.db import seconds_between
from pipeline.models import Campaign, Case, MetricSnapshot
from pipeline.refusals.breakdown import refusal_breakdown
from pipeline.remedies.funnel import remedy_funnel
from pipeline.reporting import metrics
from pipeline.satisfaction.summary import satisfaction_summary

AGREED_STATES = (CaseState.AGREED.value, CaseState.COMPLETED.value)


@dataclass(frozen=True)
class CampaignRow:
    id: int
    name: str
    reason: str
    state: str
    cases: int
    completed: int
    cancelled: int
    deadline: datetime
    launched_at: datetime | None

    @property
    def in_scope(self) -> int:
        """Cancelled cases leave the scope (as in ``recall status``)."""
        return self.cases - self.cancelled

    @property
    def completion(self) -> float | None:
        return None if self.in_scope <= 0 else self.completed / self.in_scope


@dataclass(frozen=True)
class SlowAnswer:
    case_id: int
    answer: str
    channel: str | None
    seconds: float


@dataclass
class CampaignDetail:
    row: CampaignRow
    funnel: list[tuple[str, int]]
    states: dict[str, int]
    channels: dict[str, dict[str, float]]
    steps: list[dict[str, Any]]
    slowest: list[SlowAnswer]
    # (unix seconds, completion fraction), oldest first; the last point is "now".
    completion_series: list[tuple[float, float]] = field(default_factory=list)
    # The remedy funnel and the satisfaction figures, as in ``recall status`` (issue 15).
    remedies: dict[str, Any] = field(default_factory=dict)
    satisfaction: dict[str, Any] = field(default_factory=dict)
    # Why people refused: {reason: cases} (``pipeline.refusals.breakdown``).
    refusals: dict[str, int] = field(default_factory=dict)


def campaign_rows(session: Session) -> list[CampaignRow]:
    """Every campaign, newest first, with its case count and completed count."""
    states = metrics.states_by_campaign(session)
    campaigns = session.scalars(select(Campaign).order_by(Campaign.id.desc()))
    return [_row(campaign, states.get(campaign.id, {})) for campaign in campaigns]


def _row(campaign: Campaign, states: dict[str, int]) -> CampaignRow:
    return CampaignRow(
        campaign.id,
        campaign.name,
        campaign.reason,
        campaign.state,
        sum(states.values()),
        states.get(CaseState.COMPLETED.value, 0),
        states.get(CaseState.CANCELLED.value, 0),
        campaign.deadline,
        campaign.launched_at,
    )


def campaign_row(session: Session, campaign_id: int) -> CampaignRow | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    return _row(campaign, metrics.campaign_counts(session, campaign_id).states)


def campaign_detail(session: Session, campaign_id: int) -> CampaignDetail | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    counts = metrics.campaign_counts(session, campaign_id)
    row = _row(campaign, counts.states)
    return CampaignDetail(
        row=row,
        funnel=funnel(counts),
        states=counts.states,
        channels=channel_results(counts),
        steps=step_results(counts),
        slowest=slowest_answers(session, campaign_id),
        completion_series=completion_series(session, row),
        remedies=remedy_funnel(session, campaign_id, counts.states),
        satisfaction=satisfaction_summary(session, campaign_id),
        refusals=refusal_breakdown(session, campaign),
    )


def funnel(counts: metrics.Counts) -> list[tuple[str, int]]:
    """In scope → reached → answered → agreed → completed (cancelled cases left out)."""

    def in_scope(by_state: dict[str, int]) -> int:
        return sum(n for state, n in by_state.items() if state != CaseState.CANCELLED.value)

    return [
        ("in scope", in_scope(counts.states)),
        ("reached", in_scope(counts.reached_by_state)),
        ("answered", in_scope(counts.answered_by_state)),
        ("agreed", sum(counts.states[state] for state in AGREED_STATES)),
        ("completed", counts.states[CaseState.COMPLETED.value]),
    ]


def channel_results(counts: metrics.Counts) -> dict[str, dict[str, float]]:
    """Per channel that was used: sends, delivered, failed, cost units, and the answers it
    produced."""
    result: dict[str, dict[str, float]] = {}
    for channel, figures in counts.channels.items():
        cost = counts.cost.get(channel, 0.0)
        if any(figures.values()) or cost:
            result[channel] = {**_empty_channel(), **figures, "cost": cost}
    for (_, answered_on, _), answers in counts.answers.items():
        result.setdefault(str(answered_on), _empty_channel())["answers"] += answers
    return dict(sorted(result.items()))


def _empty_channel() -> dict[str, float]:
    return {"sent": 0, "delivered": 0, "failed": 0, "cost": 0.0, "answers": 0}


def step_results(counts: metrics.Counts) -> list[dict[str, Any]]:
    """Which escalation step (and channel) produced each answer."""
    steps: dict[tuple[int, str], dict[str, Any]] = {}
    for (step, channel, answer), count in sorted(
        counts.answers.items(), key=lambda item: (item[0][0], str(item[0][1]), str(item[0][2]))
    ):
        entry = steps.setdefault(
            (step, str(channel)), {"step": step, "channel": channel, "answers": {}}
        )
        entry["answers"][str(answer)] = count
    return list(steps.values())


def _answer_seconds(session: Session) -> ColumnElement[float]:
    seconds = seconds_between(session, Case.first_notified_at, Case.last_response_at)
    return cast(ColumnElement[float], seconds)


def slowest_answers(session: Session, campaign_id: int, limit: int = 10) -> list[SlowAnswer]:
    """The answers that took longest after the first notice: where the ladder is slow."""
    seconds = _answer_seconds(session).label("seconds")
    rows = session.execute(
        select(Case.id, Case.last_response, Case.answered_channel, seconds)
        .where(
            Case.campaign_id == campaign_id,
            Case.last_response_at.is_not(None),
            Case.first_notified_at.is_not(None),
        )
        .order_by(seconds.desc())
        .limit(limit)
    )
    return [SlowAnswer(i, str(a), c, float(s or 0)) for i, a, c, s in rows]


def completion_series(session: Session, row: CampaignRow) -> list[tuple[float, float]]:
    """Stored snapshots (schedules' snapshot job), then the live figure, so the line always
    ends at now."""
    snapshots = session.execute(
        select(MetricSnapshot.at, MetricSnapshot.completion)
        .where(MetricSnapshot.campaign_id == row.id)
        .order_by(MetricSnapshot.at)
    )
    series = [(at.timestamp(), float(value)) for at, value in snapshots]
    if not series and row.launched_at is not None:
        # Before the first snapshot the line still starts where every campaign starts.
        series.append((row.launched_at.timestamp(), 0.0))
    series.append((utcnow().timestamp(), row.completion or 0.0))
    return series
