"""How far a campaign has come: the ``recall status`` JSON.

Every figure is one grouped query over an indexed column (cases by campaign and state,
attempts and responses joined through the campaign's cases), so it stays cheap at a
million cases. Completion rate = completed cases ÷ cases in scope (all but cancelled).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from pipeline.errors import NotFound
from pipeline.models import Attempt, Campaign, Case, Response
from pipeline.states import CaseState

CHANNELS = ("sms", "email", "voice")
RESPONSE_KINDS = ("agree", "refuse", "query", "opt_out", "help", "unknown")
# Attempt statuses (provider vocabulary, normalised by the pipeline) that count as reaching
# the user, or as a send that failed for good.
DELIVERED = frozenset({"delivered", "completed", "answered", "opened", "clicked", "read"})
FAILED = frozenset(
    {"failed", "undelivered", "permanent_failure", "bounced", "dropped", "busy", "no-answer"}
)


def campaign_status(session: Session, campaign_id: int) -> dict[str, Any]:
    """DESIGN's status JSON: campaign_id, state, cases, states (every state), rates,
    responses, channels; plus steps, cost and median seconds to answer."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    states, reached, answered = _case_counts(session, campaign_id)
    total = sum(states.values())
    in_scope = total - states[CaseState.CANCELLED.value]
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "reason": campaign.reason,
        "state": campaign.state,
        "deadline": campaign.deadline.isoformat(),
        "cases": total,
        "states": states,
        "rates": {
            "completion": _ratio(states[CaseState.COMPLETED.value], in_scope),
            "reach": _ratio(reached, total),
            "response": _ratio(answered, total),
        },
        "responses": _response_counts(session, campaign_id),
        "channels": _channel_counts(session, campaign_id),
        "steps": _answers_by_step(session, campaign_id),
        "cost": _cost(session, campaign_id),
        "median_seconds_to_answer": _median_seconds_to_answer(session, campaign_id),
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _campaign_cases(campaign_id: int) -> Any:
    return select(Case.id).where(Case.campaign_id == campaign_id).scalar_subquery()


def _case_counts(session: Session, campaign_id: int) -> tuple[dict[str, int], int, int]:
    """Cases per state, reached and answered, in one pass over the campaign's cases."""
    counts = {state.value: 0 for state in CaseState}
    query = (
        select(
            Case.state, func.count(), func.count(Case.reached_at), func.count(Case.last_response_at)
        )
        .where(Case.campaign_id == campaign_id)
        .group_by(Case.state)
    )
    reached = answered = 0
    for state, count, state_reached, state_answered in session.execute(query):
        counts[state] = count
        reached += state_reached
        answered += state_answered
    return counts, reached, answered


def _response_counts(session: Session, campaign_id: int) -> dict[str, int]:
    counts = dict.fromkeys(RESPONSE_KINDS, 0)
    query = (
        select(Response.kind, func.count())
        .join(Case, Case.id == Response.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Response.kind)
    )
    for kind, count in session.execute(query):
        counts[kind] = counts.get(kind, 0) + count
    return counts


def _channel_counts(session: Session, campaign_id: int) -> dict[str, dict[str, int]]:
    counts = {channel: {"sent": 0, "delivered": 0, "failed": 0} for channel in CHANNELS}
    query = (
        select(Attempt.channel, Attempt.status, func.count(Attempt.sent_at), func.count())
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Attempt.channel, Attempt.status)
    )
    for channel, status, sent, attempts in session.execute(query):
        row = counts.setdefault(channel, {"sent": 0, "delivered": 0, "failed": 0})
        row["sent"] += sent
        row["delivered"] += attempts if status in DELIVERED else 0
        row["failed"] += attempts if status in FAILED else 0
    return counts


def _answers_by_step(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Which escalation step (and channel) produced the answers."""
    query = (
        select(Case.answered_step, Case.answered_channel, func.count())
        .where(Case.campaign_id == campaign_id, Case.answered_step.is_not(None))
        .group_by(Case.answered_step, Case.answered_channel)
        .order_by(Case.answered_step, Case.answered_channel)
    )
    return [
        {"step": step, "channel": channel, "answers": count}
        for step, channel, count in session.execute(query)
    ]


def _cost(session: Session, campaign_id: int) -> dict[str, float]:
    cost = dict.fromkeys(CHANNELS, 0.0)
    query = (
        select(Attempt.channel, func.coalesce(func.sum(Attempt.cost_units), 0.0))
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Attempt.channel)
    )
    for channel, units in session.execute(query):
        cost[channel] = float(units)
    cost["total"] = sum(cost.values())
    return cost


def _median_seconds_to_answer(session: Session, campaign_id: int) -> float | None:
    """Median time from the first notice to the latest answer, over answered cases."""
    seconds = _seconds_between(session, Case.first_notified_at, Case.last_response_at)
    answered = select(seconds.label("s")).where(
        Case.campaign_id == campaign_id,
        Case.first_notified_at.is_not(None),
        Case.last_response_at.is_not(None),
    )
    if session.get_bind().dialect.name == "postgresql":
        values = answered.subquery()
        median = select(func.percentile_cont(0.5).within_group(values.c.s))
        value = session.scalar(median)
        return None if value is None else round(float(value), 3)
    return _median_sqlite(session, answered)


def _seconds_between(session: Session, start: Any, end: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)


def _median_sqlite(session: Session, answered: Any) -> float | None:
    values = answered.subquery()
    count = session.scalar(select(func.count()).select_from(values)) or 0
    if not count:
        return None
    ordered = select(values.c.s).order_by(values.c.s)
    middle = session.scalars(ordered.offset((count - 1) // 2).limit(2 - count % 2)).all()
    return round(sum(middle) / len(middle), 3)


__all__ = ["campaign_status"]
