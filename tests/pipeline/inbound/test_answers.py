"""process_inbound_event: stored webhooks → responses, case states, follow-ups, audit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.inbound.status_callbacks import NotMatchedYet
from pipeline.models import (
    Attempt,
    AuditEvent,
    Case,
    FollowUpSend,
    InboundEvent,
    Recipient,
    Response,
)
from pipeline.privacy import audit
from pipeline.settings import get_settings
from tests import inbound_rows as rows


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def _count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _setup(session: Session, **kw: Any) -> Case:
    camp = rows.campaign(session, completion=kw.pop("completion", "on_agree"))
    return rows.case(session, camp, rows.recipient(session), **kw)


@pytest.mark.parametrize(
    ("body", "state", "kind", "follow"),
    [
        ("Yes, please send the label", "completed", "agree", "confirmation"),
        ("不同意", "refused", "refuse", "refusal_followup"),
        ("Is my charger affected?", "query_open", "query", "query_ack"),
        ("STOP", "opted_out", "opt_out", "opt_out_confirmation"),
        ("HELP", "awaiting_response", "help", "help"),
    ],
)
def test_sms_answer_kinds(session: Session, body: str, state: str, kind: str, follow: str) -> None:
    case = _setup(session)
    event = rows.sms(session, case.recipient.phone or "", body)
    assert process_inbound_event(session, event.id) == [FollowUp(case.id, "sms", follow)]
    assert case.state == state and case.reached_at is not None
    [response] = session.scalars(select(Response))
    assert (response.case_id, response.kind, response.raw_text) == (case.id, kind, body)
    assert response.channel == "sms" and response.step == 0
    assert event.handled_at is not None and event.outcome is not None
    assert event.outcome.startswith(f"case:{kind}")
    entries = list(session.scalars(select(AuditEvent)))
    assert [e.action for e in entries] == [f"case.{kind}"]
    assert case.recipient.phone not in str(entries[0].data)
    assert audit.verify(session).ok


def test_sms_from_a_local_format_number_matches(session: Session) -> None:
    case = _setup(session)
    phone = case.recipient.phone or ""
    local = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"  # +14155550012 → (415) 555-0012
    process_inbound_event(session, rows.sms(session, local, "yes").id)
    assert case.state == "completed"


def test_unknown_reply_is_stored_and_ignored(session: Session) -> None:
    case = _setup(session)
    event = rows.sms(session, case.recipient.phone or "", "👍")
    assert process_inbound_event(session, event.id) == []
    assert case.state == "awaiting_response"
    assert session.scalars(select(Response.kind)).all() == ["unknown"]
    assert [e.action for e in session.scalars(select(AuditEvent))] == ["case.ignored"]


def test_replay_changes_nothing(session: Session) -> None:
    case = _setup(session)
    event = rows.sms(session, case.recipient.phone or "", "yes")
    assert process_inbound_event(session, event.id)
    handled_at = event.handled_at
    before = (_count(session, Response), _count(session, AuditEvent))
    assert process_inbound_event(session, event.id) == []
    assert (_count(session, Response), _count(session, AuditEvent)) == before
    assert event.handled_at == handled_at


def test_unmatched_answer_is_stored(session: Session) -> None:
    event = rows.sms(session, "+442079460000", "Yes")
    assert process_inbound_event(session, event.id) == []
    [response] = session.scalars(select(Response))
    assert response.case_id is None and response.kind == "agree"
    assert response.sender == "+442079460000" and response.raw_text == "Yes"
    assert event.outcome == "unmatched:agree"


def test_a_bare_answer_with_two_open_cases_is_held_not_guessed(session: Session) -> None:
    # Issue 15: the most recently notified open case is no longer guessed; the person is
    # asked which recall they mean (tests/pipeline/inbound/test_reply_codes.py goes on).
    person = rows.recipient(session)
    now = utcnow()
    older = rows.case(session, rows.campaign(session), person, notified_at=now - timedelta(days=2))
    newer = rows.case(session, rows.campaign(session), person, notified_at=now - timedelta(days=1))
    closed = rows.case(session, rows.campaign(session), person, state="completed", notified_at=now)
    follow = process_inbound_event(session, rows.sms(session, person.phone or "", "no").id)
    assert follow == [FollowUp(newer.id, "sms", "which_campaign")]
    assert (older.state, newer.state, closed.state) == (
        "awaiting_response",
        "awaiting_response",
        "completed",
    )


def test_stop_holds_across_campaigns(session: Session) -> None:
    person = rows.recipient(session)
    now = utcnow()
    first = rows.case(session, rows.campaign(session), person, notified_at=now)
    second = rows.case(
        session, rows.campaign(session), person, notified_at=now - timedelta(hours=1)
    )
    process_inbound_event(session, rows.sms(session, person.phone or "", "STOP").id)
    assert first.state == "opted_out" and person.sms_opted_out
    # The other campaign's case now takes the person's messages, but never by SMS.
    follow = process_inbound_event(session, rows.sms(session, person.phone or "", "help").id)
    assert follow == [] and second.state == "awaiting_response"
    # START lifts the suppression for every campaign.
    follow = process_inbound_event(session, rows.sms(session, person.phone or "", "START").id)
    assert follow == [FollowUp(second.id, "sms", "opt_in_confirmation")]
    assert not person.sms_opted_out


def test_stop_suppresses_every_recipient_sharing_the_number(session: Session) -> None:
    case = _setup(session)
    twin = rows.recipient(session, phone=case.recipient.phone)
    process_inbound_event(session, rows.sms(session, case.recipient.phone or "", "退订").id)
    session.refresh(twin)
    assert twin.sms_opted_out and case.recipient.sms_opted_out


def _status(session: Session, sid: str, status: str, code: str = "") -> InboundEvent:
    return rows.inbound(
        session,
        "twilio",
        "sms_status",
        {"MessageSid": sid, "MessageStatus": status, "ErrorCode": code},
    )


def test_out_of_order_status_callbacks_end_delivered(session: Session) -> None:
    case = _setup(session)
    sent = rows.attempt(session, case, status="sent")
    for status in ("delivered", "sent", "queued", "sending"):
        process_inbound_event(session, _status(session, sent.provider_id or "", status).id)
    assert sent.status == "delivered" and case.reached_at is not None
    assert [h["status"] for h in sent.status_history] == ["delivered", "sent", "queued", "sending"]
    # A failure reported after delivery is history only: the person got the message.
    process_inbound_event(session, _status(session, sent.provider_id or "", "undelivered").id)
    assert sent.status == "delivered" and case.step == 0


def test_undelivered_moves_the_case_to_its_next_step(session: Session) -> None:
    case = _setup(session)
    sent = rows.attempt(session, case, status="sent")
    event = _status(session, sent.provider_id or "", "undelivered", "30003")
    assert process_inbound_event(session, event.id) == []
    assert sent.status == "undelivered" and sent.error_code == "30003"
    assert case.step == 1 and case.state == "awaiting_response"
    assert case.next_due_at is not None and case.reached_at is None
    # The same failure told twice, or a late delivery, does not move the case again.
    process_inbound_event(session, _status(session, sent.provider_id or "", "failed").id)
    process_inbound_event(session, _status(session, sent.provider_id or "", "delivered").id)
    assert case.step == 1 and sent.status == "undelivered"


def test_failure_of_an_earlier_step_does_not_move_the_case(session: Session) -> None:
    case = _setup(session, step=1)
    old = rows.attempt(session, case, status="sent", step=0)
    process_inbound_event(session, _status(session, old.provider_id or "", "failed").id)
    assert old.status == "failed" and case.step == 1 and case.state == "awaiting_response"


def test_last_step_failing_makes_the_case_unreachable(session: Session) -> None:
    case = _setup(session, step=1)
    sent = rows.attempt(session, case, channel="email", step=1)
    event = rows.inbound(
        session,
        "sendgrid",
        "email_event",
        {"event": "bounce", "case_id": str(case.id), "sg_message_id": sent.provider_id + ".f1"},
    )
    process_inbound_event(session, event.id)
    assert sent.status == "failed" and case.state == "unreachable" and case.closed_at


def test_status_for_an_unknown_message_is_kept(session: Session) -> None:
    event = _status(session, "SMunknown", "delivered")
    event.received_at = utcnow() - timedelta(minutes=5)
    assert process_inbound_event(session, event.id) == []
    assert event.outcome == "unmatched:sms_status" and event.handled_at is not None


def _call(session: Session, kind: str, sid: str, **fields: str) -> InboundEvent:
    return rows.inbound(session, "twilio", kind, {"CallSid": sid, "To": "+14155550000", **fields})


@pytest.mark.parametrize(
    ("digits", "state", "kind"),
    [("1", "completed", "agree"), ("2", "refused", "refuse"), ("3", "query_open", "query")],
)
def test_keypress_answers(session: Session, digits: str, state: str, kind: str) -> None:
    case = _setup(session, step=1)
    call = rows.attempt(session, case, channel="voice", step=1)
    follow = process_inbound_event(
        session, _call(session, "keypress", call.provider_id, Digits=digits).id
    )
    assert case.state == state and case.answered_channel == "voice" and case.answered_step == 1
    assert follow and follow[0].channel == "sms"
    assert session.scalars(select(Response.kind)).all() == [kind]


def test_a_voice_message_joins_the_question_it_follows(session: Session) -> None:
    case = _setup(session)
    call = rows.attempt(session, case, channel="voice")
    process_inbound_event(session, _call(session, "keypress", call.provider_id, Digits="3").id)
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    event = _call(session, "recording", call.provider_id, RecordingSid="RE1", RecordingUrl=url)
    assert process_inbound_event(session, event.id) == []
    assert event.outcome == "recording:attached"
    [question] = session.scalars(select(Response)).all()
    assert question.kind == "query" and url in question.raw_text
    assert case.state == "query_open"


@pytest.mark.parametrize("digits", ["9", ""])
def test_repeat_or_nothing_pressed_is_no_answer(session: Session, digits: str) -> None:
    case = _setup(session)
    call = rows.attempt(session, case, channel="voice")
    event = _call(session, "keypress", call.provider_id or "", Digits=digits)
    assert process_inbound_event(session, event.id) == []
    assert case.state == "awaiting_response" and _count(session, Response) == 0
    assert event.handled_at is not None


def test_keypress_on_an_unknown_call_is_stored(session: Session) -> None:
    event = _call(session, "keypress", "CAunknown", Digits="1")
    process_inbound_event(session, event.id)
    [response] = session.scalars(select(Response))
    assert response.case_id is None and response.channel == "voice" and response.kind == "agree"


def test_call_statuses(session: Session) -> None:
    case = _setup(session)
    call = rows.attempt(session, case, channel="voice")
    for status in ("ringing", "completed", "in-progress"):
        process_inbound_event(
            session, _call(session, "call_status", call.provider_id, CallStatus=status).id
        )
    assert call.status == "delivered" and case.reached_at is not None
    other = _setup(session)
    missed = rows.attempt(session, other, channel="voice")
    process_inbound_event(
        session, _call(session, "call_status", missed.provider_id, CallStatus="no-answer").id
    )
    assert missed.status == "undelivered" and missed.error_code == "no-answer" and other.step == 1


@pytest.mark.parametrize(
    ("duration", "minutes"), [("0", 0.0), ("59", 1.0), ("60", 1.0), ("61", 2.0), (None, 0.0)]
)
def test_a_finished_call_costs_the_minutes_twilio_bills(
    session: Session, duration: str | None, minutes: float
) -> None:
    case = _setup(session)
    call = rows.attempt(session, case, channel="voice")
    fields = {"CallStatus": "completed"} | ({"CallDuration": duration} if duration else {})
    process_inbound_event(session, _call(session, "call_status", call.provider_id, **fields).id)
    assert call.status == "delivered" and call.cost_units == minutes


def test_link_answer(session: Session) -> None:
    case = _setup(session, completion="on_remedy")
    event = rows.inbound(session, "link", "link_answer", {"case_id": case.id, "answer": "agree"})
    assert process_inbound_event(session, event.id) == [FollowUp(case.id, "email", "confirmation")]
    assert case.state == "agreed" and case.answered_channel == "email"


def test_link_query_keeps_the_question(session: Session) -> None:
    case = _setup(session)
    payload = {"case_id": case.id, "answer": "query", "text": "Does this affect model B?"}
    event = rows.inbound(session, "link", "link_answer", payload)
    assert process_inbound_event(session, event.id) == [FollowUp(case.id, "email", "query_ack")]
    assert session.scalars(select(Response.raw_text)).all() == ["Does this affect model B?"]
    assert case.state == "query_open"


def test_keypress_falls_back_to_the_case_in_the_callback_url(session: Session) -> None:
    case = _setup(session)
    event = _call(session, "keypress", "CAnotrecordedyet", Digits="2")
    event.payload = {**event.payload, "_query": {"case_id": str(case.id)}}
    process_inbound_event(session, event.id)
    assert case.state == "refused"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("status", {"MessageStatus": "delivered"}), ("gather", {"Digits": "1"})],
)
def test_older_kind_names_are_accepted(
    session: Session, kind: str, payload: dict[str, str]
) -> None:
    case = _setup(session)
    sent = rows.attempt(session, case, channel="voice" if kind == "gather" else "sms")
    sid = {"status": "MessageSid", "gather": "CallSid"}[kind]
    event = rows.inbound(session, "twilio", kind, {sid: sent.provider_id, **payload})
    process_inbound_event(session, event.id)
    assert case.reached_at is not None


def test_unsubscribe_link_opts_out_of_email_without_confirmation(session: Session) -> None:
    case = _setup(session)
    event = rows.inbound(session, "link", "link", {"case_id": case.id, "answer": "opt_out"})
    assert process_inbound_event(session, event.id) == []
    assert case.state == "opted_out" and case.recipient.email_opted_out
    assert not case.recipient.sms_opted_out


def test_link_for_a_missing_case_is_stored(session: Session) -> None:
    event = rows.inbound(session, "link", "link_answer", {"case_id": 999999, "answer": "refuse"})
    process_inbound_event(session, event.id)
    assert session.scalars(select(Response.case_id)).all() == [None]


def _email(session: Session, case: Case, kind: str, **fields: Any) -> InboundEvent:
    payload = {"event": kind, "email": case.recipient.email, "custom_args": {"case_id": case.id}}
    return rows.inbound(session, "sendgrid", "email_event", {**payload, **fields})


def test_email_delivery_and_engagement(session: Session) -> None:
    case = _setup(session)
    sent = rows.attempt(session, case, channel="email")
    for kind in ("processed", "open", "delivered", "deferred"):
        process_inbound_event(
            session, _email(session, case, kind, sg_message_id=sent.provider_id).id
        )
    assert sent.status == "delivered" and case.reached_at is not None


def test_email_unsubscribe_opts_out_without_confirmation(session: Session) -> None:
    case = _setup(session)
    rows.attempt(session, case, channel="email")
    assert process_inbound_event(session, _email(session, case, "spamreport").id) == []
    assert case.state == "opted_out" and case.recipient.email_opted_out
    assert not case.recipient.sms_opted_out
    assert session.scalars(select(Response.kind)).all() == ["opt_out"]


@pytest.mark.parametrize(("bounce_type", "suppressed"), [("bounce", True), ("blocked", False)])
def test_a_hard_bounce_suppresses_the_address_in_every_campaign(
    session: Session, bounce_type: str, suppressed: bool
) -> None:
    case = _setup(session)
    sent = rows.attempt(session, case, channel="email")
    event = _email(session, case, "bounce", type=bounce_type, sg_message_id=sent.provider_id)
    process_inbound_event(session, event.id)
    assert sent.status == "failed"
    assert case.recipient.email_opted_out is suppressed, "a soft bounce (blocked) is not"
    assert not case.recipient.sms_opted_out


@pytest.mark.parametrize(
    ("provider", "kind", "payload", "outcome"),
    [
        ("twilio", "sms", {"Body": "yes"}, "malformed: From missing"),
        ("twilio", "sms_status", {"MessageSid": "SM1"}, "malformed: MessageStatus missing"),
        (
            "link",
            "link_answer",
            {"case_id": "x", "answer": "agree"},
            "malformed: case_id is not a number",
        ),
        (
            "link",
            "link",
            {"case_id": 1, "answer": "stop"},
            "malformed: answer is not agree, refuse or query",
        ),
        ("twilio", "fax", {}, "unsupported"),
    ],
)
def test_malformed_events_are_marked_not_lost(
    session: Session, provider: str, kind: str, payload: dict[str, Any], outcome: str
) -> None:
    event = rows.inbound(session, provider, kind, payload)
    assert process_inbound_event(session, event.id) == []
    assert event.outcome == outcome and event.handled_at is not None
    assert _count(session, Response) == 0


def test_processing_commits_through_session_scope(engine: Engine) -> None:
    with session_scope(engine) as session:
        case = _setup(session)
        event_id = rows.sms(session, case.recipient.phone or "", "ok").id
        case_id = case.id
    with session_scope(engine) as session:
        process_inbound_event(session, event_id)
    with session_scope(engine) as session:
        assert session.get(Case, case_id).state == "completed"  # type: ignore[union-attr]
        assert session.get(InboundEvent, event_id).handled_at is not None  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Recipient)) == 1
        assert session.scalar(select(Attempt).limit(1)) is None


def _in_threads(count: int, work: Any) -> list[Any]:
    results: list[Any] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_workers_handle_an_event_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        case = _setup(session)
        event_id, case_id = rows.sms(session, case.recipient.phone or "", "yes").id, case.id

    def work() -> list[FollowUp]:
        with session_scope(engine) as session:
            return process_inbound_event(session, event_id)

    results = _in_threads(4, work)
    assert sorted(results, key=len) == [[], [], [], [FollowUp(case_id, "sms", "confirmation")]]
    with session_scope(engine) as session:
        assert _count(session, Response) == 1 and _count(session, AuditEvent) == 1


def test_concurrent_answers_for_one_case_are_serialised(engine: Engine) -> None:
    with session_scope(engine) as session:
        case = _setup(session)
        sent = rows.attempt(session, case)
        ids = [
            rows.sms(session, case.recipient.phone or "", "HELP").id,
            _status(session, sent.provider_id or "", "delivered").id,
            rows.sms(session, case.recipient.phone or "", "yes").id,
            _status(session, sent.provider_id or "", "sent").id,
        ]
        case_id = case.id
    queue = list(ids)

    def work() -> list[FollowUp]:
        with session_scope(engine) as session:
            return process_inbound_event(session, queue.pop())

    results = _in_threads(len(ids), work)
    assert not [r for r in results if isinstance(r, BaseException)]
    with session_scope(engine) as session:
        done = session.get(Case, case_id)
        assert done is not None and done.state == "completed" and done.reached_at is not None
        assert session.scalar(select(Attempt.status)) == "delivered"
        assert audit.verify(session).ok and _count(session, AuditEvent) == 2


def test_early_status_is_retried_then_kept_as_unmatched(session: Session) -> None:
    event = _status(session, "SMnotrecordedyet", "delivered")
    with pytest.raises(NotMatchedYet):
        process_inbound_event(session, event.id)
    assert event.handled_at is None
    event.received_at = utcnow() - timedelta(seconds=get_settings().status_match_grace_seconds)
    assert process_inbound_event(session, event.id) == []
    assert event.outcome == "unmatched:sms_status" and event.handled_at is not None


def test_early_status_applies_once_the_send_is_recorded(session: Session) -> None:
    case = _setup(session)
    event = _status(session, "SMrecordedlate", "delivered")
    with pytest.raises(NotMatchedYet):
        process_inbound_event(session, event.id)
    sent = rows.attempt(session, case)
    sent.provider_id = "SMrecordedlate"
    process_inbound_event(session, event.id)
    assert sent.status == "delivered" and case.reached_at is not None


def test_status_of_a_follow_up_is_recorded_on_the_event_only(session: Session) -> None:
    case = _setup(session)
    session.add(
        FollowUpSend(
            key="k1", case_id=case.id, channel="sms", kind="confirmation", provider_id="SMfollow"
        )
    )
    event = _status(session, "SMfollow", "delivered")
    assert process_inbound_event(session, event.id) == []
    assert event.outcome == "followup:delivered"
