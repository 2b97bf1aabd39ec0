"""The query inbox: open questions oldest first with their SLA clock, each user's thread,
agents' answers, answers heard by phone, and replies that matched no case.

Contact data leaves this module masked unless one case's full view was asked for, and
that view is written to the audit log before it is returned. Nothing here sends: callers
commit, then hand the returned follow-ups to ``channel.send_followup``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp, apply_event
from pipeline.cases.states import CaseEvent, CaseState
from pipeline.channel_port import first_kind, first_reachable, reply_kinds
from pipeline.errors import InputError, InvalidState, NotFound
from pipeline.models import AgentReply, Attempt, Case, FollowUpSend, Recipient, Response
from pipeline.privacy import audit
from pipeline.privacy.masking import mask_email, mask_phone, mask_text

PHONE_ANSWERS = {"agree": CaseEvent.AGREE, "refuse": CaseEvent.REFUSE, "query": CaseEvent.QUERY}
MAX_ANSWER_CHARS = 1600


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    email: str
    full: bool


@dataclass(frozen=True)
class QueryItem:
    case_id: int
    campaign_id: int
    campaign_name: str
    contact: Contact
    opened_at: datetime | None
    due_at: datetime | None
    overdue: bool
    question: str
    channel: str | None


@dataclass(frozen=True)
class ThreadEntry:
    at: datetime
    direction: str  # "in" from the user, "out" to the user
    channel: str
    kind: str
    text: str


@dataclass(frozen=True)
class UnmatchedItem:
    id: int
    received_at: datetime
    channel: str
    kind: str
    sender: str
    text: str


def contact_of(recipient: Recipient, *, full: bool = False) -> Contact:
    if full:
        return Contact(recipient.name, recipient.phone or "", recipient.email or "", True)
    return Contact(recipient.name, mask_phone(recipient.phone), mask_email(recipient.email), False)


def open_queries(session: Session, now: datetime, limit: int = 200) -> list[QueryItem]:
    """Cases waiting for an agent, the longest-waiting first."""
    cases = session.scalars(
        select(Case)
        .where(Case.state == CaseState.QUERY_OPEN.value)
        .order_by(Case.last_response_at.asc().nulls_first(), Case.id)
        .limit(limit)
    ).all()
    return [_query_item(session, case, now) for case in cases]


def _query_item(session: Session, case: Case, now: datetime) -> QueryItem:
    question = _latest_query(session, case.id)
    return QueryItem(
        case_id=case.id,
        campaign_id=case.campaign_id,
        campaign_name=case.campaign.name,
        contact=contact_of(case.recipient),
        opened_at=case.last_response_at,
        due_at=case.query_due_at,
        overdue=case.query_due_at is not None and case.query_due_at < now,
        question=mask_text(question.raw_text) if question else "",
        channel=question.channel if question else None,
    )


def _latest_query(session: Session, case_id: int) -> Response | None:
    return session.scalars(
        select(Response)
        .where(Response.case_id == case_id, Response.kind == "query")
        .order_by(Response.received_at.desc(), Response.id.desc())
        .limit(1)
    ).first()


def load_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def thread(session: Session, case_id: int, *, full: bool = False) -> list[ThreadEntry]:
    """What the user said and what we sent them, oldest first. Bodies masked unless full."""
    show = (lambda text: text) if full else mask_text
    entries = [
        ThreadEntry(r.received_at, "in", r.channel, r.kind, show(r.raw_text))
        for r in session.scalars(select(Response).where(Response.case_id == case_id))
    ]
    entries += [
        ThreadEntry(
            a.sent_at or a.claimed_at,
            "out",
            a.channel,
            f"notice step {a.step + 1}",
            f"({a.status})",
        )
        for a in session.scalars(select(Attempt).where(Attempt.case_id == case_id))
    ]
    entries += [
        ThreadEntry(r.sent_at, "out", r.channel, f"answer by {r.agent}", show(r.text))
        for r in session.scalars(select(AgentReply).where(AgentReply.case_id == case_id))
    ]
    # Automatic follow-ups (confirmations, acknowledgements); agents' answers are above.
    entries += [
        ThreadEntry(
            f.sent_at or f.claimed_at, "out", f.channel, f.kind.replace("_", " "), f"({f.status})"
        )
        for f in session.scalars(
            select(FollowUpSend).where(
                FollowUpSend.case_id == case_id, FollowUpSend.kind != "agent_answer"
            )
        )
    ]
    return sorted(entries, key=lambda e: e.at)


def reveal_contact(session: Session, case_id: int, agent: str) -> Contact:
    """The full phone and email of one case, for one agent; audited first."""
    case = load_case(session, case_id)
    audit.record(
        session,
        actor=agent,
        action="contact.view_full",
        entity=f"case:{case_id}",
        data={"recipient_id": case.recipient_id},
    )
    return contact_of(case.recipient, full=True)


def reply_channel(session: Session, case: Case) -> str:
    """The channel the user wrote on; a question asked on a call is answered in writing."""
    question = _latest_query(session, case.id)
    channel = question.channel if question else case.answered_channel
    if channel in reply_kinds():
        return channel
    written = first_reachable(case.recipient)
    if written is not None:
        return written
    raise InvalidState(f"case {case.id}: no written channel reaches this user")


def answer_query(session: Session, case_id: int, agent: str, text: str, now: datetime) -> str:
    """Record an agent's answer and return the case to awaiting_response.

    Returns the channel to send the answer on; the caller commits, then sends
    ``channel.send_followup(case_id, channel, "agent_answer", text)``.
    """
    text = text.strip()
    if not text:
        raise InputError("the answer is empty", field="text")
    if len(text) > MAX_ANSWER_CHARS:
        raise InputError(f"the answer is longer than {MAX_ANSWER_CHARS} characters", field="text")
    case = load_case(session, case_id)
    if case.state != CaseState.QUERY_OPEN.value:
        raise InvalidState(f"case {case_id} has no open query (state {case.state})")
    channel = reply_channel(session, case)
    session.add(AgentReply(case_id=case_id, agent=agent, channel=channel, text=text, sent_at=now))
    apply_event(
        session,
        case,
        CaseEvent.QUERY_ANSWERED,
        now=now,
        actor=agent,
        channel=channel,
        detail={"answer_chars": len(text)},
    )
    return channel


def record_phone_answer(
    session: Session, case_id: int, answer: str, agent: str, now: datetime
) -> list[FollowUp]:
    """An answer the user gave an agent on the phone: stored like any other answer."""
    event = PHONE_ANSWERS.get(answer)
    if event is None:
        raise InputError(f"{answer!r} is not one of {', '.join(PHONE_ANSWERS)}", field="answer")
    case = load_case(session, case_id)
    session.add(
        Response(
            case_id=case_id,
            channel=first_kind(takes_keypresses=True),
            kind=answer,
            step=case.step,
            raw_text=f"heard by phone, recorded by {agent}",
            received_at=now,
        )
    )
    return apply_event(
        session,
        case,
        event,
        now=now,
        actor=agent,
        channel=first_kind(takes_keypresses=True),
        detail={"recorded_by": agent},
    )


def unmatched(session: Session, limit: int = 200) -> list[UnmatchedItem]:
    """Replies that matched no case, newest first, sender and text masked."""
    rows = session.scalars(
        select(Response)
        .where(Response.case_id.is_(None))
        .order_by(Response.received_at.desc())
        .limit(limit)
    )
    return [
        UnmatchedItem(
            r.id, r.received_at, r.channel, r.kind, _mask_sender(r.sender), mask_text(r.raw_text)
        )
        for r in rows
    ]


def _mask_sender(sender: str | None) -> str:
    if not sender:
        return ""
    return mask_email(sender) if "@" in sender else mask_phone(sender)
