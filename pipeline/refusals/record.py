"""The reply after a refusal: is it a reason, and storing it on the case.

After a refusal the follow-up asks why (a numbered list and free text). The person's next
SMS reply is taken as the reason when it is one of the numbers, or free text that is not an
answer keyword (YES still turns a refusal into agreement, STOP still opts out, HELP still
helps) and not a plain question (a reply with a question mark that names no reason is a
query an agent answers). The reason's code and the person's words go on the case; a reason
marked as a demand opens an item in the agents' inbox (``pipeline.followups.demands``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp, follow_up_channel
from pipeline.cases.states import CaseState
from pipeline.followups.demands import open_demand
from pipeline.inbound.replies import ReplyKind
from pipeline.models import Case, Response
from pipeline.privacy import audit
from pipeline.privacy.masking import log_event
from pipeline.refusals.catalogue import RefusalReason, campaign_reasons
from pipeline.refusals.classify import chosen_number, classify_refusal, keyword_reason

log = logging.getLogger(__name__)

REASON_RESPONSE_KIND = "reason"
# Replies that keep their meaning after a refusal: they are never taken as a reason.
_KEYWORD_ANSWERS = frozenset(
    {ReplyKind.AGREE, ReplyKind.REFUSE, ReplyKind.OPT_OUT, ReplyKind.OPT_IN, ReplyKind.HELP}
)
_QUESTION_MARKS = ("?", "？")


def reasons_for(case: Case) -> list[RefusalReason]:
    return campaign_reasons(case.campaign.reason, case.campaign.spec)


def awaiting_reason(case: Case) -> bool:
    """Refused, and no reason given since that refusal (an older one was for an earlier)."""
    if case.state != CaseState.REFUSED.value:
        return False
    given = case.refusal_reason_at
    return given is None or (case.last_response_at is not None and given < case.last_response_at)


def is_reason_reply(case: Case, kind: ReplyKind, text: str) -> bool:
    """Does this reply (classified as ``kind``) give a reason (see the module docstring)?"""
    number = chosen_number(text)
    if number is not None:
        return 1 <= number <= len(reasons_for(case))
    if kind in _KEYWORD_ANSWERS or kind is ReplyKind.UNKNOWN:
        return False
    if keyword_reason(text, reasons_for(case)) is not None:
        return True
    return not any(mark in text for mark in _QUESTION_MARKS)


def record_reason(
    session: Session,
    case: Case,
    text: str,
    *,
    channel: str,
    now: datetime,
    actor: str,
    inbound_event_id: int | None = None,
    sender: str | None = None,
) -> list[FollowUp]:
    """Classify ``text`` as the case's refusal reason, store it (and the reply), open a demand
    when the reason is one; returns the acknowledgement to send after commit."""
    classified = classify_refusal(text, reasons_for(case))
    reason = classified.reason
    case.refusal_reason, case.refusal_text, case.refusal_reason_at = reason.code, text, now
    session.add(
        Response(
            case_id=case.id,
            inbound_event_id=inbound_event_id,
            channel=channel,
            kind=REASON_RESPONSE_KIND,
            raw_text=text[:4000],
            sender=sender,
            step=case.step,
            received_at=now,
        )
    )
    if reason.demand:
        open_demand(session, case, reason.code, text, now)
    # The reason's code and how it was given, never the words: the audit log is not a
    # place for what people write.
    audit.record(
        session,
        actor=actor,
        action="case.refusal_reason",
        entity=f"case:{case.id}",
        data={"reason": reason.code, "by_number": classified.by_number, "demand": reason.demand,
              "chars": len(text), "channel": channel},
    )  # fmt: skip
    log_event(log, "refusal.reason", case_id=case.id, reason=reason.code, demand=reason.demand)
    target = follow_up_channel(case.recipient, channel)
    return [FollowUp(case.id, target, "refusal_reason_ack")] if target else []
