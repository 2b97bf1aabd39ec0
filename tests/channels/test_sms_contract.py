"""The SMS adapter through the real twilio client, against the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from twilio.request_validator import RequestValidator

from channels.callbacks import CONNECTION_OVERRIDES
from channels.registry import channel_for
from channels.sandbox.runner import SandboxThread
from channels.segments import count_segments
from pipeline.models import Case
from pipeline.notices.outbound import followup_message, notice_message
from pipeline.notices.templates import render_followup, render_notice
from tests.channels.channels_testkit import ACCOUNT_SID, AUTH_TOKEN, Receiver, sandbox_requests

MakeCase = Callable[..., Case]


def test_notice_request_is_what_twilio_expects(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    case = make_case(phone="+15551230001", locale="zh-CN")
    result = channel_for("sms").send(notice_message(case, "sms", 0))

    body = render_notice(case, "sms").text
    assert result.ok and result.provider_id and result.provider_id.startswith("SM")
    assert len(result.provider_id) == 34
    assert result.cost_units == count_segments(body).segments
    (request,) = sandbox_requests(sandbox, "twilio")
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request["auth_user"] == ACCOUNT_SID
    assert request["form"] == {
        "To": "+15551230001",
        "From": "+15005550006",
        "Body": body,
        "StatusCallback": f"{receiver.url}/webhooks/twilio/status" + CONNECTION_OVERRIDES,
        "ValidityPeriod": "3600",
    }


def test_messaging_service_replaces_from(
    sandbox: SandboxThread, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.settings import get_settings

    monkeypatch.setenv("RECALL_TWILIO_MESSAGING_SERVICE_SID", "MG" + "1" * 32)
    get_settings.cache_clear()
    case = make_case()
    assert channel_for("sms").send_text(followup_message(case, "sms", "Thank you.")).ok
    (request,) = sandbox_requests(sandbox, "twilio")
    assert request["form"]["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in request["form"]
    assert request["form"]["Body"] == "Thank you."


def test_status_callbacks_are_signed_like_twilio(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    result = channel_for("sms").send(notice_message(make_case(), "sms", 0))
    sandbox.wait_idle()

    callbacks = receiver.at("/webhooks/twilio/status")
    assert [c.form["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
    validator = RequestValidator(AUTH_TOKEN)
    for callback in callbacks:
        assert callback.form["MessageSid"] == result.provider_id
        url = receiver.url + callback.path
        assert validator.validate(url, callback.form, callback.headers["X-Twilio-Signature"])
        assert not RequestValidator("another-token").validate(
            url, callback.form, callback.headers["X-Twilio-Signature"]
        )


@pytest.mark.parametrize(
    ("locale", "answer", "expected"),
    [
        ("en", "agree", "YES"),
        ("en", "refuse", "NO"),
        ("en", "stop", "STOP"),
        ("zh-CN", "agree", "同意"),
        ("zh-CN", "refuse", "不同意"),
        ("zh-CN", "query", "咨询"),
    ],
)
def test_users_reply_in_their_language(
    sandbox: SandboxThread,
    receiver: Receiver,
    make_case: MakeCase,
    locale: str,
    answer: str,
    expected: str,
) -> None:
    shares = {"agree": 0, "refuse": 0, "query": 0, "stop": 0, "silence": 0, answer: 1}
    sandbox.configure(users=True, shares=shares)
    case = make_case(locale=locale, phone="+15551230002")
    channel_for("sms").send(notice_message(case, "sms", 0))
    sandbox.wait_idle()

    (reply,) = receiver.at("/webhooks/twilio/sms")
    assert reply.form["From"] == "+15551230002"
    assert reply.form["To"] == "+15005550006"
    assert reply.form["Body"].startswith(expected)
    url = receiver.url + reply.path
    assert RequestValidator(AUTH_TOKEN).validate(
        url, reply.form, reply.headers["X-Twilio-Signature"]
    )


def test_followups_without_a_prompt_get_no_answer(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    sandbox.configure(users=True, shares={"agree": 1, "silence": 0})
    case = make_case()
    channel_for("sms").send_text(
        followup_message(case, "sms", render_followup("confirmation", case))
    )
    sandbox.wait_idle()
    assert receiver.at("/webhooks/twilio/sms") == []


def test_a_user_who_replied_stop_is_unsubscribed(
    sandbox: SandboxThread, make_case: MakeCase
) -> None:
    sandbox.configure(users=True, shares={"stop": 1, "agree": 0, "silence": 0})
    case = make_case(phone="+15551230003")
    assert channel_for("sms").send(notice_message(case, "sms", 0)).ok
    sandbox.wait_idle()
    again = channel_for("sms").send(notice_message(case, "sms", 1))
    assert again.failure is not None and again.failure.code == "21610"


def test_received_messages_are_listed_per_user(sandbox: SandboxThread, make_case: MakeCase) -> None:

    case = make_case(phone="+15551230004")
    channel_for("sms").send_text(followup_message(case, "sms", "first"))
    channel_for("sms").send_text(followup_message(make_case(phone="+15551230005"), "sms", "other"))
    sandbox.wait_idle()
    got = httpx.get(f"{sandbox.url}/_sandbox/messages", params={"to": "+15551230004"}).json()
    assert [m["body"] for m in got] == ["first"]
    assert got[0]["status"] == "delivered"


def test_start_sandbox_helper_runs_on_a_free_port() -> None:
    from channels.sandbox.runner import start_sandbox

    first = start_sandbox(immediate=True, shares={"refuse": 1})
    second = start_sandbox()
    try:
        assert first.port != second.port
        assert first.state.config.immediate and first.state.config.shares.agree == 0
        assert httpx.get(f"{second.url}/_sandbox/pending").json() == {"pending": 0}
    finally:
        first.stop()
        second.stop()


def test_the_validity_period_never_outlasts_the_campaign(make_case: MakeCase) -> None:
    from datetime import timedelta

    from channels.sms import validity_seconds
    from pipeline.clock import utcnow

    case = make_case(phone="+15551230001")
    now = utcnow()
    case.campaign.deadline = now + timedelta(minutes=10)
    assert validity_seconds(notice_message(case, "sms", 0), now) == 600
    case.campaign.deadline = now + timedelta(days=20)
    assert (
        validity_seconds(notice_message(case, "sms", 0), now) == 3600
    )  # RECALL_SMS_VALIDITY_SECONDS
    case.campaign.deadline = now - timedelta(minutes=1)
    assert validity_seconds(notice_message(case, "sms", 0), now) == 1, (
        "Twilio's least; the deadline job closes it"
    )
