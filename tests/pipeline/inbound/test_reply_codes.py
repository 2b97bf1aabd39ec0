"""One phone, open cases in two campaigns: replies name the campaign by its code; a bare
answer is held and the person asked which recall, never guessed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.inbound.reply_codes import code_of, free_reply_code, split_code
from pipeline.models import Case, PendingReply, Recipient, Response
from pipeline.notices.templates import render_followup, render_notice
from tests import inbound_rows as rows


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def _two(session: Session, locale: str = "en") -> tuple[Recipient, Case, Case]:
    person = rows.recipient(session, locale=locale)
    now = utcnow()
    kettle = rows.case(session, rows.campaign(session), person, notified_at=now - timedelta(days=1))
    heater = rows.case(session, rows.campaign(session), person, notified_at=now)
    code_of(session, kettle.campaign), code_of(session, heater.campaign)
    return person, kettle, heater


def _reply(session: Session, person: Recipient, body: str) -> list[FollowUp]:
    return process_inbound_event(session, rows.sms(session, person.phone or "", body).id)


@pytest.mark.parametrize(
    ("text", "code", "rest"),
    [
        ("YES 42", "42", "YES"),
        ("42 YES", "42", "YES"),
        ("是 42", "42", "是"),
        ("同意42", "42", "同意"),
        ("#42 no", "42", "no"),
        ("４２", "42", ""),
        ("yes 1", None, "yes 1"),  # one digit is an answer or a reason, never a code
        ("is model 42 affected?", None, "is model 42 affected?"),
        ("yes 2019", None, "yes 2019"),
    ],
)
def test_split_code(text: str, code: str | None, rest: str) -> None:
    assert split_code(text) == (code, rest)


@given(st.text(max_size=200))
def test_split_code_never_raises(text: str) -> None:
    code, _rest = split_code(text)
    assert code is None or (code.isdigit() and 2 <= len(code) <= 3)


def test_codes_are_unique_among_active_campaigns(session: Session) -> None:
    first, second = rows.campaign(session), rows.campaign(session)
    assert (code_of(session, first), code_of(session, second)) == ("10", "11")
    first.state = "closed"
    session.flush()
    assert free_reply_code(session) == "10"  # a closed campaign's code is free again


def test_the_notice_carries_the_code_only_when_another_case_is_open(session: Session) -> None:
    _person, _kettle, heater = _two(session)
    code = heater.campaign.reply_code
    assert f"add {code} to your reply (YES {code})" in render_notice(heater, "sms").text
    alone = rows.case(session, rows.campaign(session), rows.recipient(session))
    assert "to your reply" not in render_notice(alone, "sms").text
    _, _, chinese = _two(session, "zh-CN")
    assert f"编号{chinese.campaign.reply_code}" in render_notice(chinese, "sms").text


@pytest.mark.parametrize("body", ["YES {code}", "{code} yes", "是 {code}"])
def test_a_reply_with_a_code_goes_to_that_campaign(session: Session, body: str) -> None:
    person, kettle, heater = _two(session)
    # The older case: what "most recently notified" would never have picked.
    follow = _reply(session, person, body.format(code=kettle.campaign.reply_code))
    assert follow == [FollowUp(kettle.id, "sms", "confirmation")]
    assert (kettle.state, heater.state) == ("completed", "awaiting_response")


def test_a_bare_answer_is_held_then_applied_with_the_code(session: Session) -> None:
    person, kettle, heater = _two(session)
    assert _reply(session, person, "NO") == [FollowUp(heater.id, "sms", "which_campaign")]
    assert (kettle.state, heater.state) == ("awaiting_response", "awaiting_response")
    asked = render_followup("which_campaign", heater)
    for case in (kettle, heater):
        assert f"{case.campaign.name}: reply YES {case.campaign.reply_code}" in asked
    [held] = session.scalars(select(PendingReply))
    assert (held.kind, held.raw_text, held.resolved_at) == ("refuse", "NO", None)
    follow = _reply(session, person, kettle.campaign.reply_code or "")
    assert follow == [FollowUp(kettle.id, "sms", "refusal_followup")]
    assert (kettle.state, heater.state) == ("refused", "awaiting_response")
    assert held.resolved_at is not None and held.case_id == kettle.id
    [response] = session.scalars(select(Response))
    assert (response.case_id, response.kind, response.raw_text) == (kettle.id, "refuse", "NO")
    # Nothing is held any more: the code alone now says nothing.
    _reply(session, person, kettle.campaign.reply_code or "")
    assert kettle.state == "refused"


def test_stop_and_help_need_no_code(session: Session) -> None:
    person, _kettle, _heater = _two(session)
    assert _reply(session, person, "HELP")[0].kind == "help"
    _reply(session, person, "STOP")
    assert person.sms_opted_out and not list(session.scalars(select(PendingReply)))


def test_a_reason_after_a_refusal_needs_no_code_when_only_one_case_awaits_one(
    session: Session,
) -> None:
    person, kettle, heater = _two(session)
    _reply(session, person, f"no {heater.campaign.reply_code}")
    assert heater.state == "refused"
    assert _reply(session, person, "4") == [FollowUp(heater.id, "sms", "refusal_reason_ack")]
    assert heater.refusal_reason == "want_other_remedy" and kettle.state == "awaiting_response"
    # A bare YES could still be either recall (the refuser may agree): asked, not guessed.
    assert _reply(session, person, "yes")[0].kind == "which_campaign"


def test_one_open_case_needs_no_code_but_accepts_one(session: Session) -> None:
    camp = rows.campaign(session)
    case = rows.case(session, camp, rows.recipient(session))
    follow = _reply(session, case.recipient, f"yes {code_of(session, camp)}")
    assert follow == [FollowUp(case.id, "sms", "confirmation")]
    other = rows.case(session, rows.campaign(session), rows.recipient(session))
    assert _reply(session, other.recipient, "yes")[0].kind == "confirmation"
