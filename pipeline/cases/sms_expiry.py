"""An SMS that expired unsent is sent again at the recipient's next allowed time.

Each SMS carries a ``ValidityPeriod`` (``channels.sms``) so that a text Twilio could not send
in time — its long-code queue was too long — expires (error 30036) instead of arriving in
the night or after the deadline. The person was never texted, so failing the step would
skip them for no fault of theirs: instead the same attempt goes back to ``claimed`` and the
case is due at the next moment their quiet hours allow, before the campaign's deadline.
``case.notify`` then finds the step claimed and sends it again under the same attempt key,
so the step is still sent at most once at a time and never twice after a delivery.

Bounded: after ``RECALL_SMS_EXPIRY_RETRIES`` expiries of one step (or when the next window
is past the deadline) the expiry fails the step like any other failure.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from pipeline.cases.quiet_hours import allowed_time_for_case
from pipeline.cases.states import LADDER_STATES
from pipeline.channel_port import spec_for
from pipeline.clock import as_utc
from pipeline.models import Attempt, Case
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

TWILIO_EXPIRED = "30036"


def expiries(attempt: Attempt) -> int:
    """How many times this attempt's message expired (its status history keeps each)."""
    return sum(1 for h in attempt.status_history or [] if h.get("code") == TWILIO_EXPIRED)


def may_retry(attempt: Attempt, case: Case, code: str | None, limit: int) -> bool:
    """Pure: an expiry of the text (a channel whose spec ``expires_unsent``) of the step
    the case is on, with retries left."""
    return (
        code == TWILIO_EXPIRED
        and spec_for(attempt.channel).expires_unsent
        and attempt.step == case.step
        and case.state in LADDER_STATES
        and expiries(attempt) <= limit
    )


def retry_expired(
    session: Session, case: Case, attempt: Attempt, code: str | None, now: datetime
) -> bool:
    """Put an expired SMS back on the ladder at the next allowed time; False when this
    failure is not one to retry (the caller then fails the step as usual)."""
    if not may_retry(attempt, case, code, get_settings().sms_expiry_retries):
        return False
    at = max(as_utc(now), allowed_time_for_case(session, case, now))
    if at >= as_utc(case.campaign.deadline):
        return False
    attempt.status, attempt.completed_at, attempt.sending_at = "claimed", None, None
    attempt.updated_at = now
    case.next_due_at, case.enqueued_at = at, None
    log.info(
        "sms.expired_retry",
        extra={"case_id": case.id, "attempt_id": attempt.id, "at": at.isoformat()},
    )
    return True
