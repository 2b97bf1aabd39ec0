"""How far a campaign has come: the ``recall status`` JSON.

On PostgreSQL every figure comes from the campaign's tallies (``pipeline.reporting.tallies``:
counters
the database keeps with triggers), so reading the status of a million cases costs a few
hundred rows. On SQLite (the embedded demo) the same figures come from grouped queries over
the rows. Completion rate = completed cases ÷ cases in scope (all but cancelled).

``responses`` counts people, not messages: agree / refuse / query / opt_out are cases by
their latest answer (a user who says NO, then YES counts once, as agree — later answers
override earlier ones), so their sum is the answered cases; help and unknown, which answer
nothing, are the messages of that kind received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.cases.policy import ladder_channels
from pipeline.cases.states import CaseState
from pipeline.channel_port import channel_kinds
from pipeline.clock import utcnow
from pipeline.complaints.stats import complaint_stats
from pipeline.compliance.figures import campaign_compliance
from pipeline.cost.spend import campaign_cost
from pipeline.db import seconds_between
from pipeline.errors import NotFound
from pipeline.models import Attempt, Campaign, Case, Response
from pipeline.privacy.figures import privacy_figures
from pipeline.refusals.breakdown import refusal_breakdown
from pipeline.remedies.funnel import remedy_funnel
from pipeline.reporting import tallies
from pipeline.satisfaction.summary import satisfaction_summary

RESPONSE_KINDS = ("agree", "refuse", "query", "opt_out", "help", "unknown")
# The kinds that are a case's answer (``recall_case.last_response``).
ANSWER_KINDS = ("agree", "refuse", "query", "opt_out")
# Attempt statuses (provider vocabulary, normalised by the pipeline) that count as reaching
# the user, or as a send that failed for good.
DELIVERED = frozenset({"delivered", "completed", "answered", "opened", "clicked", "read"})
FAILED = frozenset(
    {"failed", "undelivered", "permanent_failure", "bounced", "dropped", "busy", "no-answer"}
)


@dataclass
class Counts:
    """The figures of a campaign, however they were counted."""

    states: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in CaseState})
    # Cases reached / answered, by their current state (the funnel leaves cancelled out).
    reached_by_state: dict[str, int] = field(default_factory=dict)
    answered_by_state: dict[str, int] = field(default_factory=dict)
    # Messages received, by kind (``responses`` in the status mixes these with answers).
    messages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESPONSE_KINDS, 0))
    channels: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            c: {"sent": 0, "delivered": 0, "failed": 0} for c in channel_kinds()
        }
    )
    # Answered cases by (step, channel, latest answer) that produced the answer.
    answers: dict[tuple[int, str | None, str | None], int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=lambda: dict.fromkeys(channel_kinds(), 0.0))
    median_seconds_to_answer: float | None = None

    @property
    def cases(self) -> int:
        return sum(self.states.values())

    @property
    def reached(self) -> int:
        return sum(self.reached_by_state.values())

    @property
    def answered(self) -> int:
        return sum(self.answered_by_state.values())

    def responses(self) -> dict[str, int]:
        """Cases by latest answer, and help/unknown messages (see the module docstring)."""
        latest = dict.fromkeys(ANSWER_KINDS, 0)
        for (_, _, answer), count in self.answers.items():
            if answer in latest:
                latest[answer] += count
        return {**self.messages, **latest}

    def steps(self) -> list[dict[str, Any]]:
        """Answers per (step, channel), in step order."""
        totals: dict[tuple[int, str | None], int] = {}
        for (step, channel, _), count in self.answers.items():
            totals[step, channel] = totals.get((step, channel), 0) + count
        ordered = sorted(totals.items(), key=lambda item: (item[0][0], item[0][1] or ""))
        return [{"step": s, "channel": c, "answers": n} for (s, c), n in ordered]


def campaign_status(
    session: Session, campaign_id: int, *, compliance: bool = True
) -> dict[str, Any]:
    """DESIGN's status JSON: campaign_id, state, cases, states (every state), rates,
    responses, channels; plus steps, cost units, median seconds to answer, ``cost`` (money:
    ``pipeline.cost.spend``) and ``compliance`` (``pipeline.compliance``). Compliance reads
    the campaign's sends: what polls the status for its counts (snapshots, live progress)
    asks for it without (``compliance=False``: the key is then absent)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    counts = campaign_counts(session, campaign_id)
    total = counts.cases
    in_scope = total - counts.states[CaseState.CANCELLED.value]
    # One entry per channel the campaign uses: on its ladder, or sent on all the same.
    used = ladder_channels(campaign.policy or {})
    channels = {c: row for c, row in counts.channels.items() if c in used or any(row.values())}
    cost = {c: units for c, units in counts.cost.items() if c in used or units}
    cost["total"] = round(sum(cost.values()), 6)
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "reason": campaign.reason,
        "state": campaign.state,
        "deadline": campaign.deadline.isoformat(),
        "cases": total,
        "states": counts.states,
        "rates": {
            "completion": _ratio(counts.states[CaseState.COMPLETED.value], in_scope),
            "reach": _ratio(counts.reached, total),
            "response": _ratio(counts.answered, total),
        },
        "responses": counts.responses(),
        "channels": channels,
        "steps": counts.steps(),
        "cost_units": cost,
        "median_seconds_to_answer": counts.median_seconds_to_answer,
        **privacy_figures(session, campaign),
        # Issue 15: the campaign's complaints, as `recall complaints --campaign` gives them.
        "complaints": complaint_stats(session, utcnow(), campaign_id=campaign.id),
        "cost": campaign_cost(
            session,
            campaign,
            {c: units for c, units in cost.items() if c != "total"},
            reached=counts.reached,
            completed=counts.states[CaseState.COMPLETED.value],
            answered=counts.answered,
        ),
        "remedies": remedy_funnel(session, campaign.id, counts.states),
        "satisfaction": satisfaction_summary(session, campaign.id),
        "refusals": refusal_breakdown(session, campaign),
    } | ({"compliance": campaign_compliance(session, campaign)} if compliance else {})


def campaign_counts(session: Session, campaign_id: int) -> Counts:
    """The campaign's figures: from the tallies on PostgreSQL, from the rows on SQLite."""
    if tallies.kept_by(session.connection()):
        return counts_from_tallies(tallies.read(session, campaign_id))
    return counts_from_rows(session, campaign_id)


def states_by_campaign(session: Session) -> dict[int, dict[str, int]]:
    """Cases per state of every campaign (the dashboard's list)."""
    found: dict[int, dict[str, int]] = {}
    if tallies.kept_by(session.connection()):
        rows = [
            (campaign_id, name.partition(":")[2], round(value))
            for campaign_id, name, value in tallies.read_all(session, prefix="state:")
        ]
    else:
        query = select(Case.campaign_id, Case.state, func.count()).group_by(
            Case.campaign_id, Case.state
        )
        rows = [(campaign_id, state, count) for campaign_id, state, count in session.execute(query)]
    for campaign_id, state, count in rows:
        found.setdefault(campaign_id, {s.value: 0 for s in CaseState})[state] = count
    return found


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def counts_from_tallies(facts: dict[str, float]) -> Counts:
    """The figures from tally facts (names in ``pipeline.reporting.tallies``)."""
    counts = Counts()
    histogram: dict[int, float] = {}
    for name, value in facts.items():
        kind, _, rest = name.partition(":")
        number = round(value)
        if kind == "state":
            counts.states[rest] = number
        elif kind == "reached":
            counts.reached_by_state[rest] = number
        elif kind == "answered":
            counts.answered_by_state[rest] = number
        elif kind == "response":
            answer = rest.partition(":")[0]
            counts.messages[answer] = counts.messages.get(answer, 0) + number
        elif kind == "sent":
            _channel_row(counts, rest)["sent"] += number
        elif kind == "status":
            channel, _, status = rest.partition(":")
            _count_status(_channel_row(counts, channel), status, number)
        elif kind == "cost":
            counts.cost[rest] = round(value, 6)
        elif kind == "step":
            step, channel, answer = rest.split(":", 2)
            counts.answers[int(step), channel or None, answer or None] = number
        elif kind == "answer_time":
            histogram[int(rest)] = value
    counts.median_seconds_to_answer = tallies.median_from_histogram(histogram)
    return counts


def _channel_row(counts: Counts, channel: str) -> dict[str, int]:
    return counts.channels.setdefault(channel, {"sent": 0, "delivered": 0, "failed": 0})


def _count_status(row: dict[str, int], status: str, attempts: int) -> None:
    row["delivered"] += attempts if status in DELIVERED else 0
    row["failed"] += attempts if status in FAILED else 0


def counts_from_rows(session: Session, campaign_id: int) -> Counts:
    """The figures by grouped queries over the campaign's rows (SQLite)."""
    counts = Counts()
    _count_cases(session, campaign_id, counts)
    counts.messages = _response_counts(session, campaign_id)
    counts.channels = _channel_counts(session, campaign_id)
    counts.answers = _answers_by_step(session, campaign_id)
    counts.cost = _cost(session, campaign_id)
    counts.median_seconds_to_answer = _median_seconds_to_answer(session, campaign_id)
    return counts


def _count_cases(session: Session, campaign_id: int, counts: Counts) -> None:
    """Cases per state, and how many of each were reached and answered, in one pass."""
    query = (
        select(
            Case.state, func.count(), func.count(Case.reached_at), func.count(Case.last_response_at)
        )
        .where(Case.campaign_id == campaign_id)
        .group_by(Case.state)
    )
    for state, count, reached, answered in session.execute(query):
        counts.states[state] = count
        if reached:
            counts.reached_by_state[state] = reached
        if answered:
            counts.answered_by_state[state] = answered


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
    counts = {channel: {"sent": 0, "delivered": 0, "failed": 0} for channel in channel_kinds()}
    query = (
        select(Attempt.channel, Attempt.status, func.count(Attempt.sent_at), func.count())
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Attempt.channel, Attempt.status)
    )
    for channel, status, sent, attempts in session.execute(query):
        row = counts.setdefault(channel, {"sent": 0, "delivered": 0, "failed": 0})
        row["sent"] += sent
        _count_status(row, status, attempts)
    return counts


def _answers_by_step(
    session: Session, campaign_id: int
) -> dict[tuple[int, str | None, str | None], int]:
    """Which escalation step (and channel) produced the answers, and which answers."""
    query = (
        select(Case.answered_step, Case.answered_channel, Case.last_response, func.count())
        .where(Case.campaign_id == campaign_id, Case.answered_step.is_not(None))
        .group_by(Case.answered_step, Case.answered_channel, Case.last_response)
    )
    return {
        (int(step or 0), channel, answer): count
        for step, channel, answer, count in session.execute(query)
    }


def _cost(session: Session, campaign_id: int) -> dict[str, float]:
    cost = dict.fromkeys(channel_kinds(), 0.0)
    query = (
        select(Attempt.channel, func.coalesce(func.sum(Attempt.cost_units), 0.0))
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Attempt.channel)
    )
    for channel, units in session.execute(query):
        cost[channel] = round(float(units), 6)
    return cost


def _median_seconds_to_answer(session: Session, campaign_id: int) -> float | None:
    """Median time from the first notice to the latest answer, over answered cases."""
    seconds = seconds_between(session, Case.first_notified_at, Case.last_response_at)
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


def _median_sqlite(session: Session, answered: Any) -> float | None:
    values = answered.subquery()
    count = session.scalar(select(func.count()).select_from(values)) or 0
    if not count:
        return None
    ordered = select(values.c.s).order_by(values.c.s)
    middle = session.scalars(ordered.offset((count - 1) // 2).limit(2 - count % 2)).all()
    return round(sum(middle) / len(middle), 3)


__all__ = ["Counts", "campaign_counts", "campaign_status", "states_by_campaign"]
