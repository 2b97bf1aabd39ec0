"""Frequency caps: however many recalls a person is part of, they get at most so many texts,
calls and emails a day (settings ``max_sms_per_day``, ``max_calls_per_day``,
``max_emails_per_day``), counted over the last 24 hours across every campaign.

Attempts that the provider refused outright never reached the person, so they do not count.
The count walks ``recall_case`` by recipient (``ix_case_recipient_notified``) and then
``attempt`` by case and channel (``uq_attempt_key``), so it stays an index lookup.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pipeline.channel_port import spec_for
from pipeline.clock import as_utc
from pipeline.models import Attempt, Case, InboundEvent
from pipeline.settings import Settings, get_settings

WINDOW = timedelta(hours=24)
# Statuses of attempts that never left for the person.
NOT_CONTACTED = ("permanent_failure",)
NO_CAP = 1_000_000


def daily_cap(channel: str, settings: Settings | None = None) -> int:
    """How many messages of ``channel`` one recipient may get in 24 hours (ValueError for an
    unknown channel). A channel without a cap setting is capped only by its ladder."""
    settings = settings or get_settings()
    field = spec_for(channel).cap_setting
    return int(getattr(settings, field)) if field else NO_CAP


def _recent(recipient_id: int, channel: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Case.recipient_id == recipient_id,
        Attempt.channel == channel,
        Attempt.claimed_at > as_utc(now) - WINDOW,
        Attempt.status.not_in(NOT_CONTACTED),
    )


def _recent_attempt_times(
    session: Session, recipient_id: int, channel: str, now: datetime
) -> list[datetime]:
    query = (
        select(Attempt.claimed_at)
        .join(Case, Case.id == Attempt.case_id)
        .where(*_recent(recipient_id, channel, now))
        .order_by(Attempt.claimed_at)
    )
    return [as_utc(moment) for moment in session.scalars(query)]


def attempts_in_window(session: Session, recipient_id: int, channel: str, now: datetime) -> int:
    query = (
        select(func.count())
        .select_from(Attempt)
        .join(Case, Case.id == Attempt.case_id)
        .where(*_recent(recipient_id, channel, now))
    )
    return int(session.scalar(query) or 0)


def within_caps(session: Session, recipient_id: int, channel: str, now: datetime) -> bool:
    """True when one more ``channel`` attempt to this recipient keeps them under the cap."""
    return attempts_in_window(session, recipient_id, channel, now) < daily_cap(channel)


def next_capped_time(session: Session, recipient_id: int, channel: str, now: datetime) -> datetime:
    """``now`` when within the cap; otherwise when enough recent attempts age out of the
    24-hour window for one more to fit."""
    times = _recent_attempt_times(session, recipient_id, channel, now)
    cap = daily_cap(channel)
    if len(times) < cap:
        return as_utc(now)
    # With cap c and n attempts, n - c + 1 must leave the window: the (n - c)-th oldest.
    return times[len(times) - cap] + WINDOW


def link_question_prefix(case_id: int) -> str:
    """The start of every response-link question's event id for ``case_id`` (web.links)."""
    return f"link-query:{case_id}:"


def link_questions_in_window(session: Session, case_id: int, now: datetime) -> int:
    """Questions sent through response links for ``case_id`` in the last 24 hours. Each is
    acknowledged by email, so they count against ``max_emails_per_day``: a range over the
    unique event-id index, whatever the database."""
    prefix = link_question_prefix(case_id)
    query = (
        select(func.count())
        .select_from(InboundEvent)
        .where(
            InboundEvent.provider_event_id >= prefix,
            InboundEvent.provider_event_id < prefix + "~",
            InboundEvent.received_at > as_utc(now) - WINDOW,
        )
    )
    return int(session.scalar(query) or 0)
