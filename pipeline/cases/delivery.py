"""Sending one claimed attempt: take it for the call, call the provider, record the outcome.

Three short transactions and no transaction open across the provider call:
1. ``begin_send`` — under the case's row lock, claimed → sending (tries + 1) unless the
   campaign is paused (left claimed), cancelled or the case has left the ladder (dropped),
   or the attempt is not ours any more (another worker, already done).
2. the provider call, retried in-process on transient failures (tenacity: bounded, jittered);
3. ``record_result`` — sent, or permanently failed (the case moves to its next step).
A group of sends (``pipeline.cases.delivery_group``) runs the same steps attempt after
attempt, with 3. of one attempt and 1. of the next in one transaction.

A transient failure that outlives the in-process retries puts the attempt back to claimed
and re-raises, so Dramatiq retries the message with backoff; after ``max_send_tries`` calls
in all the step is failed and the case moves on. Any other exception from the adapter may
have come after the provider accepted the message, so the attempt becomes "unconfirmed"
(the stale-sending rule of ``pipeline.cases.notify``, applied at once) and the error re-raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from pipeline.cases.notify import (
    complete_attempt,
    load_case_for_update,
    mark_unconfirmed,
    record_permanent_failure,
)
from pipeline.cases.states import LADDER_STATES
from pipeline.channel_port import Channel, ChannelError, SendResult
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.inbound.reply_codes import note_code_needed
from pipeline.models import Attempt, Case
from pipeline.notices.outbound import notice_message
from pipeline.settings import Settings


class SendOutcome(StrEnum):
    SENT = "sent"
    PERMANENT_FAILURE = "permanent_failure"
    FAILED = "failed"  # transient failures outlasted max_send_tries
    NOT_OURS = "not_ours"  # done already, or another worker holds it
    HELD = "held"  # campaign paused: left claimed for resume
    DROPPED = "dropped"  # campaign cancelled or the case left the ladder
    UNCONFIRMED = "unconfirmed"  # the adapter raised something unknown mid-call


@dataclass(frozen=True)
class Taken:
    attempt: Attempt
    case: Case


def load_locked(
    session: Session, attempt_id: int, case_id: int | None = None
) -> tuple[Attempt, Case] | None:
    """The attempt and its case, the case row-locked first (always case, then attempt)."""
    if case_id is None:
        case_id = session.scalar(select(Attempt.case_id).where(Attempt.id == attempt_id))
    if case_id is None:
        return None
    case = load_case_for_update(session, case_id)
    attempt = session.get(Attempt, attempt_id, populate_existing=True)
    if case is None or attempt is None:
        return None
    return attempt, case


def begin_send(
    session: Session, attempt_id: int, now: datetime, settings: Settings
) -> Taken | SendOutcome:
    # The common case needs no lock on the case: the conditional UPDATE is the guard.
    peek = (
        session.execute(
            select(Attempt, Case)
            .join(Case, Case.id == Attempt.case_id)
            .where(Attempt.id == attempt_id)
        )
        .unique()
        .one_or_none()
    )
    if peek is not None:
        attempt, case = peek
        if (
            attempt.status == "claimed"
            and case.campaign.state == "running"
            and _still_due(case, attempt)
            and attempt.tries < settings.max_send_tries
        ):
            return _take(session, attempt, case, now)
    return _begin_locked(session, attempt_id, now, settings)


def _begin_locked(
    session: Session, attempt_id: int, now: datetime, settings: Settings
) -> Taken | SendOutcome:
    """Every other path, some of which change the case: under the case's row lock."""
    loaded = load_locked(session, attempt_id)
    if loaded is None:
        return SendOutcome.NOT_OURS
    attempt, case = loaded
    if attempt.status == "sending":
        return _found_sending(session, case, attempt, now, settings)
    if attempt.status != "claimed":
        return SendOutcome.NOT_OURS
    if case.campaign.state in ("paused", "draft"):
        return SendOutcome.HELD
    if case.campaign.state != "running" or not _still_due(case, attempt):
        _drop(attempt, now)
        return SendOutcome.DROPPED
    if attempt.tries >= settings.max_send_tries:
        record_permanent_failure(
            session,
            case,
            attempt,
            code="tries_exhausted",
            reason="transient failures",
            now=now,
            status="failed",
        )
        return SendOutcome.FAILED
    return _take(session, attempt, case, now)


def _take(session: Session, attempt: Attempt, case: Case, now: datetime) -> Taken | SendOutcome:
    # Conditional, so of two workers holding the same message exactly one sends it.
    taken = session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.status == "claimed")
        .values(status="sending", sending_at=now, tries=Attempt.tries + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return SendOutcome.NOT_OURS
    session.expunge(attempt)  # a snapshot for the call; the row is updated above
    return Taken(attempt, case)


def _still_due(case: Case, attempt: Attempt) -> bool:
    return case.state in LADDER_STATES and case.step == attempt.step


def _drop(attempt: Attempt, now: datetime) -> None:
    attempt.status = "dropped"
    attempt.completed_at = now
    attempt.updated_at = now


def _found_sending(
    session: Session, case: Case, attempt: Attempt, now: datetime, settings: Settings
) -> SendOutcome:
    started = attempt.sending_at or attempt.claimed_at
    stale_at = started + timedelta(seconds=settings.sending_stale_seconds)
    if now >= stale_at:
        mark_unconfirmed(session, case, attempt, now, "worker died mid-call")
    elif case.next_due_at is None or case.next_due_at > stale_at:
        # Found mid-call by a redelivered message: its worker was most likely killed
        # (Dramatiq hands back a dead worker's messages). Have the sweep look at the case
        # as soon as the call would be stale, not when the step's lease ends.
        case.next_due_at, case.enqueued_at = stale_at, None
    return SendOutcome.NOT_OURS


def call_provider(send: Callable[[], SendResult], settings: Settings) -> SendResult:
    """Call the adapter; transient failures (raised ``ChannelError`` or a returned transient
    ``SendFailure``) are retried a few times with jittered exponential waits, then raised."""
    retrying = Retrying(
        stop=stop_after_attempt(settings.send_inline_tries),
        wait=wait_random_exponential(multiplier=0.1, max=settings.send_inline_wait_seconds),
        retry=retry_if_exception_type(ChannelError),
        reraise=True,
    )
    return retrying(_raising_transient, send)


def _raising_transient(send: Callable[[], SendResult]) -> SendResult:
    result = send()
    if result.failure is not None and result.failure.transient:
        raise ChannelError(result.failure)
    return result


def record_result(
    session: Session, attempt_id: int, result: SendResult, now: datetime, case_id: int | None = None
) -> SendOutcome:
    loaded = load_locked(session, attempt_id, case_id)
    if loaded is None:
        return SendOutcome.NOT_OURS
    attempt, case = loaded
    if attempt.status == "sent":
        return SendOutcome.NOT_OURS
    if result.failure is None:
        # Also when the stale rule marked it unconfirmed meanwhile: now we know.
        complete_attempt(
            session,
            case,
            attempt,
            provider_id=result.provider_id,
            cost_units=result.cost_units,
            now=now,
        )
        return SendOutcome.SENT
    failure = result.failure
    record_permanent_failure(
        session,
        case,
        attempt,
        code=failure.code,
        reason=failure.reason,
        now=now,
        opted_out=failure.opted_out,
    )
    return SendOutcome.PERMANENT_FAILURE


def release(
    session: Session, attempt_id: int, error: ChannelError, now: datetime, settings: Settings
) -> SendOutcome | None:
    """After a transient failure: back to claimed for a retry, or failed when out of tries."""
    loaded = load_locked(session, attempt_id)
    if loaded is None:
        return SendOutcome.NOT_OURS
    attempt, case = loaded
    if attempt.status != "sending":
        return SendOutcome.NOT_OURS
    failure = error.failure
    if attempt.tries >= settings.max_send_tries:
        record_permanent_failure(
            session,
            case,
            attempt,
            code=failure.code,
            reason=failure.reason,
            now=now,
            status="failed",
        )
        return SendOutcome.FAILED
    attempt.status = "claimed"
    attempt.error_code = failure.code[:32]
    attempt.error_reason = failure.reason
    attempt.status_history = [
        *(attempt.status_history or []),
        {"status": "transient_failure", "code": failure.code, "at": now.isoformat()},
    ]
    return None


def give_up_unknown(session: Session, attempt_id: int, error: BaseException, now: datetime) -> None:
    loaded = load_locked(session, attempt_id)
    if loaded is not None and loaded[0].status == "sending":
        mark_unconfirmed(session, loaded[1], loaded[0], now, f"adapter error: {error!r}"[:500])


@dataclass(frozen=True)
class Called:
    """What one provider call left to record: its result, or the exception it raised (a
    ``ChannelError`` is transient; anything else may have come after the provider accepted)."""

    attempt_id: int
    case_id: int
    result: SendResult | None = None
    error: Exception | None = None


def call_for(taken: Taken, channel_for: Callable[[str], Channel], settings: Settings) -> Called:
    """Render the notice and call the provider for an attempt ``begin_send`` took."""
    attempt, case = taken.attempt, taken.case
    try:
        # Rendered once, inside the guard: a template error leaves no attempt "sending".
        message = notice_message(case, attempt.channel, attempt.step)
        channel = channel_for(attempt.channel)
        result = call_provider(lambda: channel.send(message), settings)
    except Exception as error:
        return Called(attempt.id, case.id, error=error)
    return Called(attempt.id, case.id, result=result)


def record_called(
    session: Session, called: Called, now: datetime, settings: Settings
) -> SendOutcome | None:
    """Record what the call left: sent or permanently failed; after a transient failure back
    to claimed (None: to be retried) or failed when out of tries; after any other error
    unconfirmed (the stale-sending rule at once)."""
    if called.result is not None:
        return record_result(session, called.attempt_id, called.result, now, called.case_id)
    if isinstance(called.error, ChannelError):
        return release(session, called.attempt_id, called.error, now, settings)
    assert called.error is not None
    give_up_unknown(session, called.attempt_id, called.error, now)
    return SendOutcome.UNCONFIRMED


def deliver_attempt(
    attempt_id: int,
    channel_for: Callable[[str], Channel],
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utcnow,
    on_sent: Callable[[float], None] | None = None,
) -> SendOutcome:
    """Send one attempt exactly once (see the module docstring). ``on_sent`` is told the
    billed units of a send this call recorded, so the caller needs no query of its own."""
    with session_scope(engine) as session:
        taken = begin_send(session, attempt_id, clock(), settings)
        if not isinstance(taken, SendOutcome):
            # Whether the notice must carry a reply code is read here, in the session.
            note_code_needed(session, taken.case)
    if isinstance(taken, SendOutcome):
        return taken
    called = call_for(taken, channel_for, settings)
    with session_scope(engine) as session:
        outcome = record_called(session, called, clock(), settings)
    if called.error is not None and (outcome in (None, SendOutcome.UNCONFIRMED)):
        raise called.error  # Dramatiq retries a transient one; any other is not retried
    if outcome is SendOutcome.SENT and on_sent is not None and called.result is not None:
        on_sent(called.result.cost_units)
    assert outcome is not None
    return outcome
