"""Follow-up messages (confirmations, acknowledgements, help, an agent's answer), sent once.

Each follow-up is a ``followup_send`` row with a unique ``key`` — by default the Dramatiq
message id, which stays the same across redeliveries and retries of one message; a caller
that may enqueue the same follow-up twice passes its own key. The row follows the same
protocol as a notice's attempt (claimed → sending → sent, the stale-sending rule of
``pipeline.cases.notify``), so a redelivered message never sends a second copy.

The follow-ups an answer calls for are an outbox: ``stage_followups`` writes their rows in
the same transaction that records the answer, so a worker that dies between that commit and
enqueueing them loses nothing — ``claim_stranded_followups`` (a scheduler job) finds rows
still claimed long after and hands them to ``channel.send_followup`` again, which sends each
at most once by its key.

A paused campaign still answers people who wrote to it (they asked); a cancelled campaign
or case is never contacted again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.cases.delivery import SendOutcome, call_provider
from pipeline.cases.events import FollowUp
from pipeline.cases.sweep import claim_rows
from pipeline.channel_port import Channel, ChannelError, SendFailure, SendResult
from pipeline.clock import utcnow
from pipeline.db import dialect_of, insert_or_ignore, session_scope
from pipeline.inbound.reply_codes import note_open_recalls
from pipeline.models import Case, FollowUpSend
from pipeline.notices.outbound import followup_message
from pipeline.notices.templates import render_followup
from pipeline.settings import Settings, get_settings

# An agent's answer carries its text in the message, not in the row: only the message can send
# it, so it is never handed on again from the row.
NOT_FROM_THE_OUTBOX = ("agent_answer",)


@dataclass(frozen=True)
class StagedFollowUp:
    """A follow-up whose row is written; enqueue ``channel.send_followup`` with these."""

    key: str
    case_id: int
    channel: str
    kind: str


def _insert_once(session: Session) -> postgresql.Insert | sqlite.Insert:
    return insert_or_ignore(FollowUpSend, dialect_of(session), ["key"])


def stage_followups(
    session: Session, event_id: int, follow_ups: Sequence[FollowUp], now: datetime
) -> list[StagedFollowUp]:
    """Write the rows of the follow-ups that inbound event ``event_id`` calls for, in the
    caller's transaction (the outbox); enqueue the returned ones after it commits. Keyed by
    the event, so processing an event again stages and sends nothing new."""
    staged = [
        StagedFollowUp(f"inbound:{event_id}:{f.case_id}:{f.channel}:{f.kind}", f.case_id,
                       f.channel, f.kind)
        for f in follow_ups
    ]  # fmt: skip
    if staged:
        rows = [
            {"key": s.key, "case_id": s.case_id, "channel": s.channel, "kind": s.kind,
             "status": "claimed", "claimed_at": now, "tries": 0, "cost_units": 0.0}
            for s in staged
        ]  # fmt: skip
        session.execute(_insert_once(session), rows)
    return staged


def claim_stranded_followups(
    session: Session, now: datetime, limit: int, *, settings: Settings | None = None
) -> list[StagedFollowUp]:
    """Follow-ups still waiting for their first send ``inbound_requeue_after_seconds`` after
    they were claimed (or last handed on): their message was lost. Marks them handed on
    and returns them; the caller enqueues ``channel.send_followup`` after commit."""
    settings = settings or get_settings()
    after = timedelta(seconds=settings.inbound_requeue_after_seconds)
    stranded = (
        select(FollowUpSend.id)
        .where(
            FollowUpSend.status == "claimed",
            FollowUpSend.claimed_at < now - after,
            FollowUpSend.tries == 0,
            FollowUpSend.kind.not_in(NOT_FROM_THE_OUTBOX),
        )
        .order_by(FollowUpSend.id)
        .limit(limit)
    )
    row = (FollowUpSend.key, FollowUpSend.case_id, FollowUpSend.channel, FollowUpSend.kind)
    claimed = claim_rows(session, FollowUpSend, stranded, {"claimed_at": now}, *row)
    return sorted((StagedFollowUp(*values) for values in claimed), key=str)


def claim_followup(
    session: Session, key: str, case_id: int, channel: str, kind: str, now: datetime
) -> FollowUpSend:
    """Insert the follow-up's row if it is new; return it (new or found) for inspection."""
    values = {
        "key": key,
        "case_id": case_id,
        "channel": channel,
        "kind": kind,
        "status": "claimed",
        "claimed_at": now,
        "tries": 0,
        "cost_units": 0.0,
    }
    statement = _insert_once(session).values(**values)
    session.execute(statement)
    return _row(session, key)


def _row(session: Session, key: str) -> FollowUpSend:
    query = select(FollowUpSend).where(FollowUpSend.key == key)
    return session.scalars(query.execution_options(populate_existing=True)).one()


def begin_followup(
    session: Session,
    key: str,
    case_id: int,
    channel: str,
    kind: str,
    now: datetime,
    settings: Settings,
) -> tuple[FollowUpSend, Case] | SendOutcome:
    row = claim_followup(session, key, case_id, channel, kind, now)
    if row.status == "sending" and now - (row.sending_at or now) >= _stale(settings):
        row.status = "unconfirmed"  # the stale-sending rule: never send it again
        return SendOutcome.NOT_OURS
    if row.status != "claimed":
        return SendOutcome.NOT_OURS
    case = session.get(Case, case_id)
    if case is None or case.state == "cancelled" or case.campaign.state == "cancelled":
        row.status = "dropped"
        return SendOutcome.DROPPED
    if row.tries >= settings.max_send_tries:
        row.status = "failed"
        return SendOutcome.FAILED
    # Conditional, so two workers holding the same message cannot both send it.
    taken = session.execute(
        update(FollowUpSend)
        .where(FollowUpSend.id == row.id, FollowUpSend.status == "claimed")
        .values(status="sending", sending_at=now, tries=FollowUpSend.tries + 1)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return SendOutcome.NOT_OURS
    return _row(session, key), case


def _stale(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.sending_stale_seconds)


def _finish(engine: Engine | None, key: str, values: dict[str, Any]) -> None:
    """Record how the send ended: one UPDATE by key, no row loaded just to change it."""
    with session_scope(engine) as session:
        session.execute(update(FollowUpSend).where(FollowUpSend.key == key).values(values))


def deliver_followup(
    key: str,
    case_id: int,
    channel_kind: str,
    kind: str,
    text: str | None,
    channel_for: Callable[[str], Channel],
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> SendOutcome:
    """Render and send one follow-up at most once (see the module docstring)."""
    with session_scope(engine) as session:
        taken = begin_followup(session, key, case_id, channel_kind, kind, clock(), settings)
        if not isinstance(taken, SendOutcome):
            # A "which recall?" question lists the open recalls: read here, in the session.
            note_open_recalls(session, taken[1], kind)
    if isinstance(taken, SendOutcome):
        return taken
    _, case = taken
    try:
        body = render_followup(kind, case, text)
    except Exception as error:  # bad kind or missing text: a caller's bug, never retried
        reason = repr(error)
        _finish(engine, key, _failed("render", reason))
        raise
    channel = channel_for(channel_kind)
    try:
        message = followup_message(case, channel_kind, body)
        result = call_provider(lambda: channel.send_text(message), settings)
    except ChannelError as error:
        failure = error.failure
        _finish(engine, key, _release(failure))
        raise
    except Exception as error:  # may have come after the provider accepted it
        reason = repr(error)
        _finish(engine, key, _failed("unconfirmed", reason))
        raise
    _finish(engine, key, _record(result, clock()))
    return SendOutcome.SENT if result.ok else SendOutcome.PERMANENT_FAILURE


def _release(failure: SendFailure) -> dict[str, Any]:
    return {"status": "claimed", "error_code": failure.code[:32], "error_reason": failure.reason}


def _failed(status: str, reason: str) -> dict[str, Any]:
    return {
        "status": "failed" if status == "render" else status,
        "error_code": status,
        "error_reason": reason[:500],
    }


def _record(result: SendResult, now: datetime) -> dict[str, Any]:
    if result.failure is not None:
        return {
            "status": "permanent_failure",
            "error_code": result.failure.code[:32],
            "error_reason": result.failure.reason,
        }
    return {
        "status": "sent",
        "provider_id": result.provider_id,
        "cost_units": result.cost_units,
        "sent_at": now,
    }
