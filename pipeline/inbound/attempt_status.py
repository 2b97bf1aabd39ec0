"""Delivery status callbacks applied to an Attempt, in one vocabulary for every channel.

Providers post statuses out of order (a ``sent`` can arrive after ``delivered``), so a
status only ever moves *forward*: queued < sending < sent < delivered < read. The first
terminal status wins:

- after ``delivered`` (or ``read``), a later ``undelivered``/``failed`` is kept in the history
  but changes nothing — the user got the message, so the case is not escalated;
- after a failure, a later ``delivered`` is kept in the history only, and the case is not
  moved twice.

Twilio call statuses and SendGrid events are mapped onto the same words, so metrics count
sent / delivered / failed the same way on every channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.models import Attempt

PROGRESS_RANK = {
    "claimed": 0,
    "queued": 1,
    "accepted": 1,
    "scheduled": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
}
DELIVERED = frozenset({"delivered", "read"})
FAILED = frozenset({"undelivered", "failed", "canceled", "permanent_failure"})

CALL_STATUS = {
    "queued": "queued",
    "initiated": "queued",
    "ringing": "sending",
    "in-progress": "sent",
    # The call connected and the notice played (to a person or as a voicemail).
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
EMAIL_EVENT_STATUS = {
    "processed": "sent",
    "deferred": "sending",
    "delivered": "delivered",
    # Opening or clicking proves delivery even when the delivered event is late or lost.
    "open": "delivered",
    "click": "delivered",
    "bounce": "failed",
    "dropped": "failed",
}


@dataclass(frozen=True)
class StatusChange:
    status: str  # the attempt's status afterwards
    changed: bool
    newly_delivered: bool = False
    newly_failed: bool = False


def apply_status(
    attempt: Attempt,
    status: str,
    *,
    now: datetime,
    code: str | None = None,
    raw: str | None = None,
) -> StatusChange:
    """Record a reported ``status`` on ``attempt`` without ever moving it backwards."""
    entry = {"status": status, "at": now.isoformat()}
    if code:
        entry["code"] = code
    if raw and raw != status:
        entry["raw"] = raw
    # A new list, so SQLAlchemy sees the JSON column change.
    attempt.status_history = [*(attempt.status_history or []), entry]
    current = attempt.status
    if current in FAILED or (current in DELIVERED and status in FAILED):
        return StatusChange(current, changed=False)
    if status in FAILED:
        attempt.status, attempt.error_code, attempt.completed_at = status, code, now
        return StatusChange(status, changed=True, newly_failed=True)
    if status not in PROGRESS_RANK or PROGRESS_RANK[status] <= PROGRESS_RANK.get(current, 0):
        return StatusChange(current, changed=False)
    attempt.status = status
    newly_delivered = status in DELIVERED and current not in DELIVERED
    if newly_delivered:
        attempt.completed_at = now
    return StatusChange(status, changed=True, newly_delivered=newly_delivered)


# The send itself records "sent" when the provider accepts the message, so a callback that
# reports no further progress (queued, ringing, SendGrid's "processed") can change nothing.
_NO_NEWS_RANK = PROGRESS_RANK["sent"]


def can_change_anything(kind: str, raw_status: str) -> bool:
    """Whether a delivery callback of ``kind`` reporting ``raw_status`` may change an
    attempt or a case. The web stores every callback but only hands these on to
    ``response.process``: most callbacks are progress the send already recorded."""
    status = raw_status.lower()
    if kind == "call_status":
        status = CALL_STATUS.get(status, status)
    elif kind == "email_event":
        status = EMAIL_EVENT_STATUS.get(status, status)
    rank = PROGRESS_RANK.get(status)
    return rank is None or rank > _NO_NEWS_RANK
