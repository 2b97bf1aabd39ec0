"""Turning one stored InboundEvent into responses and status updates.

``process_inbound_event`` reads the raw webhook the web layer stored, and:

- **matches** it to a case: an SMS reply by the sender's phone; a keypress by the call's SID
  (``Attempt.provider_id``); a response link by the case id in its verified token; an email
  event by the ``case_id`` custom argument;
- **classifies** it: ``replies.classify_reply`` for SMS; keys 1 agree, 2 refuse, 3 query for
  a call (9 asks to repeat the message and is no answer); a link carries its answer;
- **stores** a Response row for every answer, with ``case_id`` null when it matched no case,
  so operations see it — nothing is dropped;
- **applies** it with ``case_events.apply_event`` and returns the follow-ups to send after
  commit; delivery callbacks move the attempt forward only (``attempt_status``), and a
  failure of the case's current step moves the case to its next step (``send_failed``);
- marks the event handled with an outcome, so a replay is a no-op.

A delivery status that arrives before its send was recorded raises
``status_callbacks.NotMatchedYet`` (nothing is written): the caller retries it, and after
``status_match_grace_seconds`` it is kept as unmatched instead.

Stored kinds (provider/kind → payload): ``twilio/sms`` (From, To, Body, MessageSid),
``twilio/sms_status`` (MessageSid, MessageStatus, ErrorCode), ``twilio/call_status``
(CallSid, CallStatus, AnsweredBy), ``twilio/keypress`` (CallSid, Digits; the callback URL's
``_query`` may name the case), ``sendgrid/email_event`` (one SendGrid event; ``case_id``
custom argument), ``link/link_answer`` (case_id, answer, text from a verified token). An
unknown kind is marked ``unsupported``; a payload missing what its kind needs, ``malformed``.
Neither raises: a stored event is never retried forever.

**Which case an SMS reply belongs to.** One phone can have cases in several campaigns. A
reply that names a campaign's reply code goes to that campaign's case, and a bare answer
that could belong to several open cases is held and the person asked which recall they
mean (``pipeline.inbound.sms_routing``, ``reply_codes``). Otherwise the
reply goes to the recipient's *open* case (not completed, opted out, unreachable or
cancelled) that was *most recently notified* — the message the person is most likely
answering; ties go to the newest case. With no open case, it goes to the most recently
notified closed one, so STOP, START and HELP still work after a case closed. The follow-up
is rendered for that case, so it names that campaign and the person knows which recall the
answer was counted for.

Opt-out and opt-in by SMS apply to the phone number: every recipient row with that number
is (un)suppressed, since the carrier would block the number anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import case as sql_case
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp, apply_event
from pipeline.cases.states import FINAL_STATES, CaseEvent
from pipeline.channel_port import first_kind, kind_for_sender, reply_kinds, spec_for
from pipeline.clock import utcnow
from pipeline.complaints import records as complaints
from pipeline.inbound.attempt_status import EMAIL_EVENT_STATUS
from pipeline.inbound.payloads import (
    HandlerResult,
    MalformedEvent,
    lock_case,
    parse_case_id,
    payload_text,
    required_field,
)
from pipeline.inbound.replies import ReplyKind, parse_score
from pipeline.inbound.sms_routing import route_sms
from pipeline.inbound.status_callbacks import (
    attempt_by_provider_id,
    call_status,
    message_status,
    unmatched_status,
    update_attempt,
)
from pipeline.models import Attempt, Case, InboundEvent, Recipient, Response
from pipeline.privacy import audit
from pipeline.privacy.masking import log_event
from pipeline.satisfaction.ask import pending_question, question_for_case, record_score
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

REPLY_EVENTS = {kind: CaseEvent(kind.value) for kind in ReplyKind}
KEYPRESS = {"1": ReplyKind.AGREE, "2": ReplyKind.REFUSE, "3": ReplyKind.QUERY}
NO_ANSWER_KEYS = {"", "9"}  # 9 replays the message; nothing pressed is no answer either
LINK_ANSWERS = {ReplyKind.AGREE, ReplyKind.REFUSE, ReplyKind.QUERY}
EMAIL_OPT_OUT_EVENTS = {"unsubscribe", "group_unsubscribe", "spamreport"}


def process_inbound_event(session: Session, event_id: int) -> list[FollowUp]:
    """Handle one stored webhook (idempotent); returns follow-ups to send after commit."""
    event = _claim(session, event_id)
    if event is None or event.handled_at is not None:
        return []
    now = utcnow()
    handler = _HANDLERS.get((event.provider, event.kind))
    try:
        if not isinstance(event.payload, Mapping):
            raise MalformedEvent("payload is not an object")
        outcome, follow_ups = handler(session, event, now) if handler else ("unsupported", [])
    except MalformedEvent as error:
        outcome, follow_ups = f"malformed: {error}", []
    event.handled_at, event.outcome = now, payload_text(outcome, 64)
    session.flush()
    log_event(log, "inbound.handled", event_id=event.id, kind=event.kind, outcome=event.outcome)
    return follow_ups


def _claim(session: Session, event_id: int) -> InboundEvent | None:
    """The event, locked so two workers cannot both handle it: FOR UPDATE on PostgreSQL; on
    SQLite a no-op write first takes the database's write lock, so a second worker waits and
    then sees ``handled_at`` instead of failing on a stale snapshot."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == event_id)
            .values(handled_at=InboundEvent.handled_at)
            .execution_options(synchronize_session=False)
        )
    stmt = (
        select(InboundEvent)
        .where(InboundEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def sender_e164(phone: str) -> str:
    """A reply's sender in E.164, as recipients' phones are stored, to match it to a case;
    the input as given when it will not parse (lenient: an odd sender is still recorded,
    unmatched). Compare ``pipeline.campaigns.users.validated_e164``, which refuses it."""
    try:
        parsed = phonenumbers.parse(phone, get_settings().default_region)
    except phonenumbers.NumberParseException:
        return phone.strip()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _link_channel() -> str:
    """The channel that carries response links (email), where a link names no other."""
    return first_kind(takes_links=True)


def _keypress_channel() -> str:
    """The channel whose answers are keypresses during a call (voice)."""
    return first_kind(takes_keypresses=True)


def _mail_channel() -> str:
    """The channel whose provider sends the mail events and unsubscribes (email)."""
    return first_kind(subject_line=True)


def _store_response(
    session: Session,
    event: InboundEvent,
    case: Case | None,
    *,
    channel: str,
    kind: ReplyKind,
    raw_text: str,
    sender: str | None,
    now: datetime,
) -> None:
    if case is not None:
        event.case_id = case.id  # the index erasure and retention find the payload by
    session.add(
        Response(
            case_id=case.id if case else None,
            inbound_event_id=event.id,
            channel=channel,
            kind=kind.value,
            raw_text=payload_text(raw_text),
            sender=payload_text(sender, 320) if sender else None,
            step=case.step if case else None,
            received_at=now,
        )
    )


def _answer(
    session: Session,
    event: InboundEvent,
    case: Case | None,
    kind: ReplyKind,
    *,
    channel: str,
    raw_text: str,
    sender: str | None,
    now: datetime,
) -> HandlerResult:
    """Store the answer, then apply it to its case if it has one."""
    _store_response(
        session, event, case, channel=channel, kind=kind, raw_text=raw_text, sender=sender, now=now
    )
    if case is None:
        return f"unmatched:{kind.value}", []
    # An answer proves the notice reached the person.
    case.reached_at = case.reached_at or now
    state_before = case.state
    follow_ups = apply_event(
        session,
        case,
        REPLY_EVENTS[kind],
        now=now,
        actor=f"inbound:{event.provider}",
        channel=channel,
        detail={"inbound_event_id": event.id, "response": kind.value},
    )
    if kind is ReplyKind.QUERY:
        # A question may be a complaint: it then runs on the complaint clock (issue 15).
        follow_ups = complaints.on_question(session, case, raw_text, channel, now, follow_ups)
    changed = "" if state_before == case.state else f"->{case.state}"
    return f"case:{kind.value}{changed}", follow_ups


# --- SMS replies -------------------------------------------------------------------------


def _match_sms_case(session: Session, phone: str) -> int | None:
    closed_last = sql_case((Case.state.in_([s.value for s in FINAL_STATES]), 1), else_=0)
    stmt = (
        select(Case.id)
        .join(Recipient, Recipient.id == Case.recipient_id)
        .where(Recipient.phone == phone)
        .order_by(closed_last, Case.last_notified_at.desc().nulls_last(), Case.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def _sms(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    # Twilio posts WhatsApp replies to the same webhook, the sender written ``whatsapp:+1…``:
    # the port says which channel an address belongs to.
    channel, address = kind_for_sender(required_field(event.payload, "From"))
    sender = sender_e164(address)
    body = payload_text(event.payload.get("Body"))
    if parse_score(body) is not None:
        # A 1-5 reply may answer a pending satisfaction question before anything else.
        case = lock_case(session, _match_sms_case(session, sender))
        scored = _satisfaction_score(session, event, sender, case, body, now)
        if scored is not None:
            return scored
    # Reply codes when the phone has several open cases, and the reason after a refusal.
    outcome, kind = route_sms(
        session,
        event,
        now,
        channel=channel,
        sender=sender,
        body=body,
        answer=_answer,
        default_case=_match_sms_case,
    )
    if kind in (ReplyKind.OPT_OUT, ReplyKind.OPT_IN):
        _suppress_contact(session, event, channel, sender, suppressed=kind is ReplyKind.OPT_OUT)
    return outcome


def _satisfaction_score(
    session: Session, event: InboundEvent, sender: str, case: Case | None, body: str,
    now: datetime,
) -> HandlerResult | None:  # fmt: skip
    """A 1-5 reply to a pending satisfaction question (``pipeline.satisfaction.ask`` says
    which reply counts); None when the reply is something else."""
    score = parse_score(body)
    if score is None:
        return None
    question = pending_question(session, sender, case)
    if question is None:
        return None
    record_score(session, question, score, via="sms", actor=f"inbound:{event.provider}", now=now)
    return f"satisfaction:{score}", []


def _suppress_contact(
    session: Session, event: InboundEvent, channel: str, contact: str, *, suppressed: bool
) -> None:
    """(Un)suppress a channel for every recipient with this phone or email, audited."""
    spec = spec_for(channel)
    column = getattr(Recipient, spec.address)
    flag = getattr(Recipient, spec.suppression)
    ids = list(session.scalars(select(Recipient.id).where(column == contact, flag != suppressed)))
    if not ids:
        return
    session.execute(update(Recipient).where(Recipient.id.in_(ids)).values({flag: suppressed}))
    audit.record(
        session,
        actor=f"inbound:{event.provider}",
        action="recipient.suppress" if suppressed else "recipient.unsuppress",
        entity="recipient",
        data={"channel": channel, "recipient_ids": ids, "inbound_event_id": event.id},
    )


# --- delivery status ---------------------------------------------------------------------


# --- keypress --------------------------------------------------------------------------------


def _gather(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    sid = required_field(event.payload, "CallSid")
    digits = payload_text(event.payload.get("Digits")).strip()
    if digits in NO_ANSWER_KEYS:
        return ("repeat" if digits else "no_input"), []
    attempt = attempt_by_provider_id(session, sid)
    case = lock_case(session, attempt.case_id if attempt else _query_case_id(event.payload))
    kind = KEYPRESS.get(digits, ReplyKind.UNKNOWN)
    # On an outbound call the person is the called party ("To").
    sender = payload_text(event.payload.get("To") or event.payload.get("Called")) or None
    return _answer(
        session,
        event,
        case,
        kind,
        channel=_keypress_channel(),
        raw_text=digits,
        sender=sender,
        now=now,
    )


def _recording(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    """A question left as a voice message after pressing 3: the keypress already opened the
    query; the recording's address joins that answer so the agent can listen to it."""
    sid = required_field(event.payload, "CallSid")
    url = payload_text(event.payload.get("RecordingUrl"), 500)
    attempt = attempt_by_provider_id(session, sid)
    case_id = attempt.case_id if attempt else _query_case_id(event.payload)
    question = session.scalars(
        select(Response)
        .where(
            Response.case_id == case_id,
            Response.channel == _keypress_channel(),
            Response.kind == ReplyKind.QUERY.value,
        )
        .order_by(Response.received_at.desc(), Response.id.desc())
        .limit(1)
    ).first()
    if question is None or not url:
        return "recording:unmatched", []
    question.raw_text = f"{question.raw_text} (voice message: {url})"[:4000]
    return "recording:attached", []


def _query_case_id(payload: Mapping[str, Any]) -> int | None:
    """The case named in the callback URL (``?case_id=``), if any: used when the
    call's SID is not recorded on an attempt (yet)."""
    query = payload.get("_query")
    if not isinstance(query, Mapping):
        return None
    value = query.get("case_id")
    try:
        return parse_case_id(value) if value is not None else None
    except MalformedEvent:
        return None


# --- response links ------------------------------------------------------------------------


def _link(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    case_id = parse_case_id(required_field(event.payload, "case_id"))
    try:
        kind = ReplyKind(required_field(event.payload, "answer"))
    except ValueError:
        raise MalformedEvent("answer is not agree, refuse or query") from None
    if kind not in LINK_ANSWERS and kind is not ReplyKind.OPT_OUT:
        raise MalformedEvent("answer is not agree, refuse or query")
    # A link is sent in an email (or a text); the answer counts for the channel that carried it.
    channel = payload_text(event.payload.get("channel"))
    channel = channel if channel in reply_kinds() else _link_channel()
    case = lock_case(session, case_id)
    # A question typed on the response page is the text an agent must answer.
    raw_text = payload_text(event.payload.get("text")) or kind.value
    outcome = _answer(
        session, event, case, kind, channel=channel, raw_text=raw_text, sender=None, now=now
    )
    if kind is not ReplyKind.OPT_OUT:
        return outcome
    # The email's one-click unsubscribe link: suppress the address like a SendGrid
    # unsubscribe, and send nothing to someone who just asked us to stop.
    if case is not None and case.recipient.email:
        _suppress_contact(session, event, _mail_channel(), case.recipient.email, suppressed=True)
    return outcome[0], []


def _satisfaction_link(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    """A score chosen on the satisfaction page (``web.satisfaction_links``): the case's
    question, answered once."""
    case_id = parse_case_id(required_field(event.payload, "case_id"))
    score = event.payload.get("score")
    if not isinstance(score, int) or isinstance(score, bool):
        raise MalformedEvent("score is not a number from 1 to 5")
    question = question_for_case(session, case_id)
    if question is None:
        return "satisfaction:not_asked", []
    taken = record_score(session, question, score, via="link", actor="link", now=now)
    return (f"satisfaction:{score}" if taken else "satisfaction:already_answered"), []


# --- email events --------------------------------------------------------------------------


def _custom_arg(payload: Mapping[str, Any], name: str) -> Any:
    # SendGrid puts custom_args at the top level of each event; accept the nested form too.
    nested = payload.get("custom_args")
    return payload.get(name) or (nested.get(name) if isinstance(nested, Mapping) else None)


def _email_attempt(session: Session, case_id: int, payload: Mapping[str, Any]) -> Attempt | None:
    query = select(Attempt).where(Attempt.case_id == case_id, Attempt.channel == _mail_channel())
    attempt_id = _custom_arg(payload, "attempt_id")
    message_id = payload_text(payload.get("sg_message_id"))
    if attempt_id:
        query = query.where(Attempt.id == parse_case_id(attempt_id))
    elif message_id:
        # sg_message_id is the X-Message-Id returned at send time plus a ".filter…" suffix.
        query = query.where(Attempt.provider_id.in_([message_id, message_id.split(".")[0]]))
    return session.scalars(query.order_by(Attempt.step.desc()).limit(1)).first()


def _email_event(session: Session, event: InboundEvent, now: datetime) -> HandlerResult:
    payload = event.payload
    kind = required_field(payload, "event").lower()
    raw_case_id = _custom_arg(payload, "case_id")
    case_id = parse_case_id(raw_case_id) if raw_case_id is not None else None
    if kind in EMAIL_OPT_OUT_EVENTS:
        return _email_opt_out(session, event, case_id, kind, now)
    status = EMAIL_EVENT_STATUS.get(kind)
    if status is None:
        return f"email:{kind}:recorded", []
    if is_hard_bounce(payload):
        # The address does not exist: writing to it again, in any campaign, only hurts the
        # sender's reputation (SendGrid suppresses it on its side too).
        address = payload_text(payload.get("email"), 320)
        if address:
            _suppress_contact(session, event, _mail_channel(), address, suppressed=True)
    attempt = _email_attempt(session, case_id, payload) if case_id is not None else None
    if attempt is None:
        message_id = payload_text(payload.get("sg_message_id")).split(".")[0]
        return unmatched_status(session, event, message_id, kind, now)
    code = payload_text(payload.get("type") or payload.get("status") or kind, 32)
    return update_attempt(session, event, attempt, status, now=now, code=code, raw=kind)


def is_hard_bounce(payload: Mapping[str, Any]) -> bool:
    """SendGrid's ``bounce`` event is a hard bounce unless its ``type`` says ``blocked``
    (a soft, temporary refusal)."""
    kind = payload_text(payload.get("event")).lower()
    return kind == "bounce" and payload_text(payload.get("type")).lower() != "blocked"


def _email_opt_out(
    session: Session, event: InboundEvent, case_id: int | None, kind: str, now: datetime
) -> HandlerResult:
    address = payload_text(event.payload.get("email"), 320) or None
    case = lock_case(session, case_id)
    outcome = _answer(
        session,
        event,
        case,
        ReplyKind.OPT_OUT,
        channel=_mail_channel(),
        raw_text=kind,
        sender=address,
        now=now,
    )
    if address:
        _suppress_contact(session, event, _mail_channel(), address, suppressed=True)
    # No confirmation email to someone who just unsubscribed or reported spam: the provider
    # would drop it, and the person said not to write.
    return outcome[0], []


# Kinds as the web layer stores them; the names in parentheses are accepted too.
_HANDLERS: dict[tuple[str, str], Callable[[Session, InboundEvent, datetime], HandlerResult]] = {
    ("twilio", "sms"): _sms,
    ("twilio", "sms_status"): message_status,
    ("twilio", "status"): message_status,
    ("twilio", "call_status"): call_status,
    ("twilio", "keypress"): _gather,
    ("twilio", "gather"): _gather,
    ("twilio", "recording"): _recording,
    ("sendgrid", "email_event"): _email_event,
    ("link", "link_answer"): _link,
    ("link", "link"): _link,
    ("link", "satisfaction"): _satisfaction_link,
}
