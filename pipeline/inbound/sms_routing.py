"""Which case an SMS reply is for, and what it is: an answer, a refusal's reason, or an
answer held until the person says which recall they mean.

``route_sms`` applies the reply-code rule (``pipeline.inbound.reply_codes``) and the
reason-after-refusal rule (``pipeline.refusals.record``), then hands an answer to
``answer`` (``pipeline.inbound.answers._answer``, passed in so this module needs nothing of
that one). One open case, no code: the reply goes where it always went.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp, follow_up_channel
from pipeline.inbound.payloads import HandlerResult, lock_case
from pipeline.inbound.replies import ReplyKind, classify_reply
from pipeline.inbound.reply_codes import (
    case_by_code,
    drop_held,
    hold_reply,
    open_cases,
    phone_cases,
    split_code,
    take_held,
)
from pipeline.models import Case, InboundEvent
from pipeline.refusals.record import awaiting_reason, is_reason_reply, record_reason

# Replies about the number, not one recall: they need no code and are never held.
PHONE_WIDE = frozenset({ReplyKind.OPT_OUT, ReplyKind.OPT_IN, ReplyKind.HELP, ReplyKind.UNKNOWN})


class AnswerFn(Protocol):
    def __call__(
        self,
        session: Session,
        event: InboundEvent,
        case: Case | None,
        kind: ReplyKind,
        *,
        channel: str,
        raw_text: str,
        sender: str | None,
        now: datetime,
    ) -> HandlerResult: ...


def route_sms(
    session: Session,
    event: InboundEvent,
    now: datetime,
    *,
    channel: str,
    sender: str,
    body: str,
    answer: AnswerFn,
    default_case: Callable[[Session, str], int | None],
) -> tuple[HandlerResult, ReplyKind]:
    """Handle one SMS reply (see the module docstring); returns the outcome and the kind."""
    code, rest = split_code(body)
    coded = case_by_code(phone_cases(session, sender), code)
    if coded is not None:
        case = lock_case(session, coded.id)
        if not rest:
            return _apply_held(session, event, case, now, channel, sender, answer, body)
        drop_held(session, sender, now)
        kind = classify_reply(rest)
        return _to_case(session, event, case, kind, rest, now, channel, sender, answer), kind
    kind = classify_reply(body)
    candidates = open_cases(session, sender) if kind not in PHONE_WIDE else []
    if len(candidates) < 2:
        case = lock_case(session, default_case(session, sender))
        return _to_case(session, event, case, kind, body, now, channel, sender, answer), kind
    waiting = [c for c in candidates if awaiting_reason(c)]
    if len(waiting) == 1 and is_reason_reply(waiting[0], kind, body):
        case = lock_case(session, waiting[0].id)
        return _to_case(session, event, case, kind, body, now, channel, sender, answer), kind
    hold_reply(
        session,
        phone=sender,
        channel=channel,
        kind=kind.value,
        raw_text=body,
        inbound_event_id=event.id,
        now=now,
    )
    return _ask_which(candidates[0], kind, channel), kind


def _to_case(
    session: Session,
    event: InboundEvent,
    case: Case | None,
    kind: ReplyKind,
    text: str,
    now: datetime,
    channel: str,
    sender: str,
    answer: AnswerFn,
) -> HandlerResult:
    if case is not None and awaiting_reason(case) and is_reason_reply(case, kind, text):
        case.reached_at = case.reached_at or now
        follow_ups = record_reason(
            session,
            case,
            text,
            channel=channel,
            now=now,
            actor=f"inbound:{event.provider}",
            inbound_event_id=event.id,
            sender=sender,
        )
        return f"case:reason:{case.refusal_reason}", follow_ups
    return answer(
        session, event, case, kind, channel=channel, raw_text=text, sender=sender, now=now
    )


def _apply_held(
    session: Session,
    event: InboundEvent,
    case: Case | None,
    now: datetime,
    channel: str,
    sender: str,
    answer: AnswerFn,
    body: str,
) -> tuple[HandlerResult, ReplyKind]:
    """A reply that is only a code: the answer held for the phone goes to that case."""
    held = take_held(session, sender, case, now) if case is not None else None
    if held is None:
        # A code with nothing held says nothing: recorded, and the case is unchanged.
        return answer(
            session, event, case, ReplyKind.UNKNOWN, channel=channel, raw_text=body,
            sender=sender, now=now,
        ), ReplyKind.UNKNOWN  # fmt: skip
    kind = ReplyKind(held.kind)
    return _to_case(session, event, case, kind, held.raw_text, now, channel, sender, answer), kind


def _ask_which(latest: Case, kind: ReplyKind, channel: str) -> HandlerResult:
    """The question back: which recall the answer is for (the follow-up lists them)."""
    target = follow_up_channel(latest.recipient, channel)
    follow_ups = [FollowUp(latest.id, target, "which_campaign")] if target else []
    return f"held:{kind.value}", follow_ups
