"""What the dashboard shows about campaigns: the list, the funnel, per-channel and per-step
results, cost, the slowest answers and the completion rate over time.

Read-only queries over the stored rows; counts are done by the database, not in Python, so
a campaign of a million cases still draws in one round of GROUP BYs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.models import Attempt, Campaign, Case, MetricSnapshot
from pipeline.states import CaseState

FAILED_ATTEMPTS = ("failed", "undelivered", "permanent_failure")
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


def _count_state(state: CaseState) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((Case.state == state.value, 1), else_=0)), 0)


def campaign_rows(session: Session) -> list[CampaignRow]:
    """Every campaign, newest first, with its case count and completed count."""
    counts = (
        select(
            Case.campaign_id,
            func.count().label("cases"),
            _count_state(CaseState.COMPLETED).label("done"),
            _count_state(CaseState.CANCELLED).label("cancelled"),
        )
        .group_by(Case.campaign_id)
        .subquery()
    )
    query = (
        select(Campaign, counts.c.cases, counts.c.done, counts.c.cancelled)
        .outerjoin(counts, counts.c.campaign_id == Campaign.id)
        .order_by(Campaign.id.desc())
    )
    return [_row(c, n or 0, d or 0, x or 0) for c, n, d, x in session.execute(query)]


def _row(campaign: Campaign, cases: int, completed: int, cancelled: int) -> CampaignRow:
    return CampaignRow(
        campaign.id,
        campaign.name,
        campaign.reason,
        campaign.state,
        int(cases),
        int(completed),
        int(cancelled),
        campaign.deadline,
        campaign.launched_at,
    )


def campaign_row(session: Session, campaign_id: int) -> CampaignRow | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    cases, done, cancelled = session.execute(
        select(
            func.count(), _count_state(CaseState.COMPLETED), _count_state(CaseState.CANCELLED)
        ).where(Case.campaign_id == campaign_id)
    ).one()
    return _row(campaign, cases, done, cancelled)


def campaign_detail(session: Session, campaign_id: int) -> CampaignDetail | None:
    row = campaign_row(session, campaign_id)
    if row is None:
        return None
    return CampaignDetail(
        row=row,
        funnel=funnel(session, campaign_id),
        states=state_counts(session, campaign_id),
        channels=channel_results(session, campaign_id),
        steps=step_results(session, campaign_id),
        slowest=slowest_answers(session, campaign_id),
        completion_series=completion_series(session, row),
    )


def funnel(session: Session, campaign_id: int) -> list[tuple[str, int]]:
    """In scope → reached → answered → agreed → completed (cancelled cases left out)."""

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    scope, reached, answered, agreed, completed = session.execute(
        select(
            func.count(),
            count_if(Case.reached_at.is_not(None)),
            count_if(Case.last_response.is_not(None)),
            count_if(Case.state.in_(AGREED_STATES)),
            count_if(Case.state == CaseState.COMPLETED.value),
        ).where(Case.campaign_id == campaign_id, Case.state != CaseState.CANCELLED.value)
    ).one()
    return [
        ("in scope", scope),
        ("reached", reached),
        ("answered", answered),
        ("agreed", agreed),
        ("completed", completed),
    ]


def state_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Every case state, zero where none."""
    found = {
        state: count
        for state, count in session.execute(
            select(Case.state, func.count())
            .where(Case.campaign_id == campaign_id)
            .group_by(Case.state)
        )
    }
    return {state.value: int(found.get(state.value, 0)) for state in CaseState}


def channel_results(session: Session, campaign_id: int) -> dict[str, dict[str, float]]:
    """Per channel: sends, delivered, failed, cost units, and answers it produced."""
    rows = session.execute(
        select(Attempt.channel, Attempt.status, func.count(), func.sum(Attempt.cost_units))
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Attempt.channel, Attempt.status)
    )
    result: dict[str, dict[str, float]] = {}
    for channel, status, count, cost in rows:
        entry = result.setdefault(channel, _empty_channel())
        entry["sent"] += count
        entry["cost"] += float(cost or 0)
        if status == "delivered":
            entry["delivered"] += count
        elif status in FAILED_ATTEMPTS:
            entry["failed"] += count
    answers = session.execute(
        select(Case.answered_channel, func.count())
        .where(Case.campaign_id == campaign_id, Case.answered_channel.is_not(None))
        .group_by(Case.answered_channel)
    )
    for answered_channel, count in answers:
        result.setdefault(str(answered_channel), _empty_channel())["answers"] += count
    return dict(sorted(result.items()))


def _empty_channel() -> dict[str, float]:
    return {"sent": 0, "delivered": 0, "failed": 0, "cost": 0.0, "answers": 0}


def step_results(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Which escalation step (and channel) produced each answer."""
    rows = session.execute(
        select(Case.answered_step, Case.answered_channel, Case.last_response, func.count())
        .where(Case.campaign_id == campaign_id, Case.answered_step.is_not(None))
        .group_by(Case.answered_step, Case.answered_channel, Case.last_response)
        .order_by(Case.answered_step)
    )
    steps: dict[tuple[int, str], dict[str, Any]] = {}
    for step, channel, answer, count in rows:
        entry = steps.setdefault(
            (int(step or 0), str(channel)),
            {"step": int(step or 0), "channel": channel, "answers": {}},
        )
        entry["answers"][str(answer)] = int(count)
    return list(steps.values())


def _answer_seconds(session: Session) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        days = func.julianday(Case.last_response_at) - func.julianday(Case.first_notified_at)
        return days * 86400.0
    epoch = func.extract("epoch", Case.last_response_at - Case.first_notified_at)
    return cast(ColumnElement[float], epoch)


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
    """Stored snapshots, then the live figure, so the line always ends at "now"."""
    snapshots = session.execute(
        select(MetricSnapshot.at, MetricSnapshot.completion)
        .where(MetricSnapshot.campaign_id == row.id)
        .order_by(MetricSnapshot.at)
    )
    series = [(at.timestamp(), float(value)) for at, value in snapshots]
    series.append((utcnow().timestamp(), row.completion or 0.0))
    return series
