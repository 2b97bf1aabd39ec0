"""Delivery status callbacks (Twilio message and call statuses, SendGrid delivery events)
applied to the attempt they report on.

The attempt is found by the provider's message id. A status for an id no attempt has is a
follow-up's (kept as history of the event only), one that arrived before the worker stored
the id (``NotMatchedYet``: retried for ``status_match_grace_seconds``), or a stranger's
(kept as ``unmatched``). Statuses only move forward (``attempt_status``); a failure of the
step the case is on moves the case to its next step.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp, apply_event
from pipeline.cases.sms_expiry import retry_expired
from pipeline.cases.states import CaseEvent
from pipeline.errors import RecallError
from pipeline.inbound.attempt_status import CALL_STATUS, apply_status
from pipeline.inbound.payloads import HandlerResult, lock_case, payload_text, required_field
from pipeline.models import Attempt, FollowUpSend, InboundEvent
from pipeline.settings import get_settings


class NotMatchedYet(RecallError):
    """A delivery status arrived before its send was recorded (providers can call back
    before the worker has stored the message id). Transient: the caller retries, and once
    the event is ``status_match_grace_seconds`` old it is kept as unmatched instead."""


def attempt_by_provider_id(session: Session, provider_id: str) -> Attempt | None:
    return session.scalars(
        select(Attempt).where(Attempt.provider_id == provider_id).order_by(Attempt.id).limit(1)
    ).first()


def update_attempt(
    session: Session,
    event: InboundEvent,
    attempt: Attempt,
    status: str,
    *,
    now: datetime,
    code: str | None,
    raw: str,
) -> HandlerResult:
    # Lock order: case, then attempt — the same order the sending side takes them.
    case = lock_case(session, attempt.case_id)
    event.case_id = attempt.case_id  # the index erasure and retention find the payload by
    session.refresh(attempt, with_for_update=True)
    change = apply_status(attempt, status, now=now, code=code, raw=raw)
    follow_ups: list[FollowUp] = []
    if case is not None and change.newly_delivered:
        case.reached_at = case.reached_at or now
    # Only a failure of the step the case is on moves it on; an old step's news is history.
    if (
        case is not None
        and change.newly_failed
        and retry_expired(session, case, attempt, code, now)
    ):
        return f"status:{status}:retry_at_window", []
    if case is not None and change.newly_failed and attempt.step == case.step:
        follow_ups = apply_event(
            session,
            case,
            CaseEvent.SEND_FAILED,
            now=now,
            actor=f"inbound:{event.provider}",
            channel=attempt.channel,
            detail={"attempt_id": attempt.id, "status": status, "code": code},
        )
    return f"status:{status}" + ("" if change.changed else ":kept"), follow_ups


def unmatched_status(
    session: Session, event: InboundEvent, provider_id: str, status: str, now: datetime
) -> HandlerResult:
    """A status for no known attempt: a follow-up's, one that is early, or a stranger's."""
    followup = select(FollowUpSend.id).where(FollowUpSend.provider_id == provider_id).limit(1)
    if session.scalar(followup) is not None:
        return f"followup:{status}", []
    grace = timedelta(seconds=get_settings().status_match_grace_seconds)
    if now - event.received_at < grace:
        raise NotMatchedYet(f"no attempt has provider id {provider_id!r} yet")
    return f"unmatched:{event.kind}", []


def message_status(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    sid = required_field(event.payload, "MessageSid")
    status = required_field(event.payload, "MessageStatus").lower()
    attempt = attempt_by_provider_id(session, sid)
    if attempt is None:
        return unmatched_status(session, event, sid, status, now)
    code = payload_text(event.payload.get("ErrorCode"), 32) or None
    return update_attempt(session, event, attempt, status, now=now, code=code, raw=status)


def call_status(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    sid = required_field(event.payload, "CallSid")
    raw = required_field(event.payload, "CallStatus").lower()
    attempt = attempt_by_provider_id(session, sid)
    if attempt is None:
        return unmatched_status(session, event, sid, raw, now)
    status = CALL_STATUS.get(raw, raw)
    code = raw[:32] if status in ("undelivered", "failed") else None
    outcome = update_attempt(session, event, attempt, status, now=now, code=code, raw=raw)
    minutes = billed_minutes(event.payload.get("CallDuration")) if raw == "completed" else None
    if minutes is not None:
        attempt.cost_units = minutes  # a call's cost is only known when it ends
    return outcome


def billed_minutes(duration: object) -> float | None:
    """Twilio bills a call per started minute of its ``CallDuration`` (seconds); None when
    the callback carries no usable duration."""
    try:
        seconds = int(str(duration))
    except ValueError:
        return None
    return float(math.ceil(seconds / 60)) if seconds >= 0 else None
