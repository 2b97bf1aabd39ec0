"""Notifying one case: which channel its step uses, claiming the attempt, recording outcomes.

Exactly one send per step
-------------------------
``notify_case`` inserts an Attempt keyed (case, channel, step) — "claimed" — in the same
transaction that moves the case to ``notifying``; the caller enqueues ``channel.send_*``
only after that commits (a group of cases, ``pipeline.cases.notify_group``, shares one
transaction and so one commit). The send (``pipeline.cases.delivery``) moves the attempt
claimed → "sending" with a conditional UPDATE, so exactly one worker wins, and commits that
before it calls the provider; the outcome is recorded in a later transaction (for a group
of sends, ``pipeline.cases.delivery_group``, the one that also takes the next attempt).

A message found "sending" (the stale-sending rule)
--------------------------------------------------
- sending for less than ``sending_stale_seconds``: another worker may be mid-call, so do
  nothing now; the case's lease (``next_due_at``) brings it back later.
- sending for longer: that worker died mid-call. The provider may or may not have accepted
  the message, and neither Twilio nor SendGrid can be asked by a key of ours. We never call
  again: the attempt becomes "unconfirmed" and the case goes on as if it had been sent
  (awaiting an answer; the next step after the wait). At worst the user misses one step and
  is reached by the next one; nobody is ever contacted twice for a step.

Due work
--------
``Case.next_due_at`` says when the pipeline must look at a case again: the step's send
(pending), the end of a claimed step's lease (notifying: its message may have been lost),
or the end of the step's wait (awaiting_response: escalate). ``case.notify`` is the one
entry point for all of them, so the scheduler's sweep only enqueues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.caps import next_capped_time
from pipeline.cases.events import apply_event
from pipeline.cases.policy import Step, ladder_for
from pipeline.cases.quiet_hours import allowed_time_for_case
from pipeline.cases.states import LADDER_STATES, CaseEvent, CaseState
from pipeline.channel_port import channel_kinds, opted_out, reply_kinds, set_opted_out, spec_for
from pipeline.db import insert_or_ignore, take_write_turn
from pipeline.models import Attempt, Case, Recipient
from pipeline.settings import Settings

ACTOR = "pipeline"
# An attempt in one of these is still someone's job; anything else is finished.
OPEN_STATUSES = frozenset({"claimed", "sending"})
FAILED_STATUSES = frozenset({"permanent_failure", "failed"})


class Outcome(StrEnum):
    SEND = "send"  # an attempt was claimed (or re-found claimed): enqueue its send
    SKIP = "skip"  # nothing to do now
    DEFERRED = "deferred"  # quiet hours or a frequency cap: next_due_at moved
    CLOSED = "closed"  # the case left the ladder (exhausted, unreachable)


@dataclass(frozen=True)
class NotifyResult:
    outcome: Outcome
    reason: str = ""
    attempt_id: int | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Skip:
    step: int
    channel: str
    reason: str


@dataclass(frozen=True)
class StepChoice:
    """The ladder step to send and its channel (None: no step left), and the steps passed
    over on the way because the recipient cannot be reached on their channel."""

    step: int
    channel: str | None
    skipped: tuple[Skip, ...] = ()


def unreachable_reason(recipient: Recipient, channel: str) -> str | None:
    """Why ``recipient`` cannot be contacted on ``channel``, or None if they can."""
    if recipient.erased_at is not None:
        return "erased"
    if channel not in channel_kinds():
        return "unknown_channel"
    if opted_out(recipient, channel):
        return "opted_out"
    field = spec_for(channel).address
    if not getattr(recipient, field):
        return f"no_{field}"
    return None


def choose_step_channel(recipient: Recipient, ladder: list[Step], step: int) -> StepChoice:
    """From ``step`` on, the first ladder step whose channel can reach ``recipient``."""
    skipped: list[Skip] = []
    for index in range(step, len(ladder)):
        channel = ladder[index].channel
        reason = unreachable_reason(recipient, channel)
        if reason is None:
            return StepChoice(index, channel, tuple(skipped))
        skipped.append(Skip(index, channel, reason))
    return StepChoice(len(ladder), None, tuple(skipped))


def load_case_for_update(session: Session, case_id: int) -> Case | None:
    """The case, locked so events for one case never interleave (its row on PostgreSQL,
    the write turn on SQLite)."""
    query = select(Case).where(Case.id == case_id)
    if _dialect(session) == "postgresql":
        query = query.with_for_update(of=Case)
    else:
        take_write_turn(session)
    return session.scalars(query).unique().one_or_none()


def current_attempt(session: Session, case: Case) -> Attempt | None:
    query = select(Attempt).where(Attempt.case_id == case.id, Attempt.step == case.step)
    return session.scalars(query.order_by(Attempt.id.desc()).limit(1)).one_or_none()


def step_wait(case: Case, step: int) -> timedelta:
    ladder = ladder_for(case.campaign.policy or {}, case.recipient.risk_tier)
    return ladder[step].wait if step < len(ladder) else timedelta(0)


def notify_case(session: Session, case_id: int, now: datetime, settings: Settings) -> NotifyResult:
    """Do whatever is due for one case: send its step, recover a lost send, or escalate
    after the step's wait. Safe to call any number of times (see the module docstring)."""
    case = load_case_for_update(session, case_id)
    if case is None:
        return NotifyResult(Outcome.SKIP, "missing")
    return notify_locked_case(session, case, now, settings)


def notify_locked_case(
    session: Session, case: Case, now: datetime, settings: Settings
) -> NotifyResult:
    """``notify_case`` for a case this transaction has locked already (a group's)."""
    case.enqueued_at = None  # this message is being handled; the sweep may hand it on again
    if case.campaign.state != "running":
        return NotifyResult(Outcome.SKIP, f"campaign_{case.campaign.state}")
    # Each pass either returns or moves the case one step on, so this ends.
    for _ in range(len(ladder_for(case.campaign.policy or {}, case.recipient.risk_tier)) + 4):
        if case.state not in LADDER_STATES:
            closed = case.state == CaseState.UNREACHABLE
            return NotifyResult(Outcome.CLOSED if closed else Outcome.SKIP, case.state)
        if case.next_due_at is None or case.next_due_at > now:
            return NotifyResult(Outcome.SKIP, "not_due")
        result = _advance(session, case, now, settings)
        if result is not None:
            return result
    return NotifyResult(Outcome.SKIP, "no_progress")


def _advance(
    session: Session, case: Case, now: datetime, settings: Settings
) -> NotifyResult | None:
    """One move on a due case; None means the case changed and should be looked at again."""
    attempt = current_attempt(session, case)
    if attempt is None:
        return _start_step(session, case, now, settings)
    if attempt.status == "claimed":
        return _resend_claimed(case, attempt, now, settings)
    if attempt.status == "sending":
        return _check_sending(session, case, attempt, now, settings)
    if attempt.status in FAILED_STATUSES:
        _apply(session, case, CaseEvent.SEND_FAILED, now, attempt.channel, attempt.error_code)
        return None
    # The step was sent: its wait is over (or the SENT was never recorded on the case).
    if case.state == CaseState.NOTIFYING:
        mark_sent(session, case, attempt, attempt.sent_at or now)
        return None
    _apply(session, case, CaseEvent.WAIT_ELAPSED, now, attempt.channel)
    return None


def _start_step(
    session: Session, case: Case, now: datetime, settings: Settings
) -> NotifyResult | None:
    ladder = ladder_for(case.campaign.policy or {}, case.recipient.risk_tier)
    choice = choose_step_channel(case.recipient, ladder, case.step)
    for skip in choice.skipped:
        _apply(session, case, CaseEvent.SEND_FAILED, now, skip.channel, skip.reason)
        if case.state not in LADDER_STATES:
            return NotifyResult(Outcome.CLOSED, skip.reason)
    if choice.channel is None:
        _apply(session, case, CaseEvent.EXHAUSTED, now, None, "no_step_left")
        return NotifyResult(Outcome.CLOSED, "exhausted")
    not_before = send_window(session, case, choice.channel, now, settings)
    if not_before > now:
        case.next_due_at = not_before
        return NotifyResult(Outcome.DEFERRED, "window", channel=choice.channel)
    attempt = claim_attempt(session, case, choice.channel, case.step, now)
    if attempt.status != "claimed":
        return None  # someone else got there first: look at what they left
    # Last, because the audit record it writes holds an audit chain's lock until commit.
    _apply(session, case, CaseEvent.NOTIFY, now, choice.channel)
    _lease(case, now, settings)
    return NotifyResult(Outcome.SEND, "claimed", attempt.id, attempt.channel)


def _resend_claimed(
    case: Case, attempt: Attempt, now: datetime, settings: Settings
) -> NotifyResult:
    # The lease ran out with the attempt still unclaimed by a sender: its message was lost
    # (or is stuck behind a long queue; a duplicate send message is a harmless no-op).
    _lease(case, now, settings)
    return NotifyResult(Outcome.SEND, "resend", attempt.id, attempt.channel)


def _check_sending(
    session: Session, case: Case, attempt: Attempt, now: datetime, settings: Settings
) -> NotifyResult | None:
    started = attempt.sending_at or attempt.claimed_at
    if now - started < timedelta(seconds=settings.sending_stale_seconds):
        case.next_due_at = started + timedelta(seconds=settings.sending_stale_seconds)
        return NotifyResult(Outcome.SKIP, "in_flight", attempt.id, attempt.channel)
    mark_unconfirmed(session, case, attempt, now, "worker died mid-call")
    return NotifyResult(Outcome.SKIP, "unconfirmed", attempt.id, attempt.channel)


def _lease(case: Case, now: datetime, settings: Settings) -> None:
    """A claimed step gets this long to be sent before the sweep looks again."""
    case.next_due_at = now + timedelta(seconds=settings.attempt_lease_seconds)
    case.enqueued_at = now


def claim_attempt(session: Session, case: Case, channel: str, step: int, now: datetime) -> Attempt:
    """Insert the attempt for (case, channel, step) as claimed; if it exists already (a
    redelivered message), return the existing row unchanged for the caller to inspect."""
    values = {
        "case_id": case.id,
        "channel": channel,
        "step": step,
        "status": "claimed",
        "claimed_at": now,
        "updated_at": now,
        "status_history": [],
        "tries": 0,
        "cost_units": 0.0,
    }
    statement = insert_or_ignore(Attempt, _dialect(session), ["case_id", "channel", "step"]).values(
        **values
    )
    # RETURNING hands back the new row; only a conflict (a redelivery) costs a second read.
    inserted = session.scalars(statement.returning(Attempt)).one_or_none()
    if inserted is not None:
        return inserted
    query = select(Attempt).where(
        Attempt.case_id == case.id, Attempt.channel == channel, Attempt.step == step
    )
    return session.scalars(query.execution_options(populate_existing=True)).one()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def mark_sent(session: Session, case: Case, attempt: Attempt, now: datetime) -> None:
    """The case side of a completed send: awaiting an answer until the step's wait ends."""
    session.flush()  # write the attempt before the audit record takes the chain's lock
    _apply(session, case, CaseEvent.SENT, now, attempt.channel)
    if case.state == CaseState.AWAITING_RESPONSE:
        case.next_due_at = now + step_wait(case, attempt.step)
        case.enqueued_at = None
    case.first_notified_at = case.first_notified_at or now
    case.last_notified_at = now


def mark_unconfirmed(
    session: Session, case: Case, attempt: Attempt, now: datetime, reason: str
) -> None:
    """The stale-sending rule: never call again, proceed as if it was sent."""
    _set_status(attempt, "unconfirmed", now, code="unconfirmed", reason=reason)
    attempt.completed_at = now
    mark_sent(session, case, attempt, attempt.sending_at or now)


def complete_attempt(
    session: Session,
    case: Case,
    attempt: Attempt,
    *,
    provider_id: str | None,
    cost_units: float,
    now: datetime,
) -> None:
    """Record a send the provider accepted; the case then awaits an answer."""
    attempt.provider_id = provider_id
    attempt.cost_units = cost_units
    attempt.sent_at = now
    attempt.completed_at = now
    _set_status(attempt, "sent", now)
    mark_sent(session, case, attempt, now)


def record_permanent_failure(
    session: Session,
    case: Case,
    attempt: Attempt,
    *,
    code: str,
    reason: str,
    now: datetime,
    status: str = "permanent_failure",
    opted_out: bool = False,
) -> None:
    """The provider refused the step for good: record it; the case moves to its next step
    (or becomes unreachable when none is left). ``opted_out``: it refused because the
    person unsubscribed there (``SendFailure.opted_out``)."""
    _set_status(attempt, status, now, code=code, reason=reason)
    attempt.completed_at = now
    if opted_out and attempt.channel in reply_kinds():
        # The person texted STOP to our number and the provider's opt-out kept it: no
        # campaign may text them again until they send START (which recall also hears).
        set_opted_out(case.recipient, attempt.channel, True)
    _apply(session, case, CaseEvent.SEND_FAILED, now, attempt.channel, code)


def _set_status(
    attempt: Attempt,
    status: str,
    now: datetime,
    *,
    code: str | None = None,
    reason: str | None = None,
) -> None:
    attempt.status = status
    attempt.updated_at = now
    if code is not None:
        attempt.error_code = code[:32]
        attempt.error_reason = reason
    entry = {"status": status, "at": now.isoformat()}
    if code is not None:
        entry["code"] = code
    attempt.status_history = [*(attempt.status_history or []), entry]


def _apply(
    session: Session,
    case: Case,
    event: CaseEvent,
    now: datetime,
    channel: str | None,
    detail: str | None = None,
) -> None:
    apply_event(
        session,
        case,
        event,
        now=now,
        actor=ACTOR,
        channel=channel,
        detail={"reason": detail} if detail else None,
    )


def send_window(
    session: Session, case: Case, channel: str, now: datetime, settings: Settings
) -> datetime:
    """The earliest time this step may go out: the recipient's quiet hours (schedules team's
    ``allowed_time_for_case``, which honours a security incident's audited override), then
    the per-recipient frequency caps. Email does not wake anyone: quiet hours are for SMS
    and calls only."""
    quiet = spec_for(channel).quiet_hours
    not_before = allowed_time_for_case(session, case, now) if quiet else now
    if not_before > now:
        return not_before
    return max(now, next_capped_time(session, case.recipient_id, channel, now))
