"""The WhatsApp adapter through the real twilio client, against the sandbox over HTTP:
``whatsapp:`` on both addresses, an approved template for a step's notice where one is
configured and a plain body where not, a plain body for follow-ups."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.callbacks import CONNECTION_OVERRIDES
from channels.registry import channel_for
from channels.sandbox.runner import SandboxThread
from pipeline.channel_port import kind_for_sender, reply_kinds, spec_for
from pipeline.models import Case
from pipeline.notices.outbound import followup_message, notice_message
from pipeline.notices.templates import render_notice
from pipeline.settings import get_settings
from tests.channels.channels_testkit import ACCOUNT_SID, Receiver, sandbox_requests

MakeCase = Callable[..., Case]
CONTENT_SID = "HX" + "a" * 32


@pytest.fixture
def content_sid(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("RECALL_TWILIO_WHATSAPP_CONTENT_SID", CONTENT_SID)
    get_settings.cache_clear()
    yield CONTENT_SID
    get_settings.cache_clear()


def test_notice_without_a_template_is_a_plain_body(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    case = make_case(phone="+15551230001")
    result = channel_for("whatsapp").send(notice_message(case, "whatsapp", 0))

    assert result.ok and result.provider_id and result.provider_id.startswith("SM")
    assert result.cost_units == 1.0
    (request,) = sandbox_requests(sandbox, "twilio")
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request["form"] == {
        "To": "whatsapp:+15551230001",
        "From": "whatsapp:+14155238886",
        "Body": render_notice(case, "sms").text,
        "StatusCallback": f"{receiver.url}/webhooks/twilio/status" + CONNECTION_OVERRIDES,
        "ValidityPeriod": "3600",
    }


def test_notice_with_a_template_sends_its_content_sid_and_the_notice_as_variable(
    sandbox: SandboxThread, make_case: MakeCase, content_sid: str
) -> None:
    case = make_case(phone="+15551230002")
    assert channel_for("whatsapp").send(notice_message(case, "whatsapp", 0)).ok
    (request,) = sandbox_requests(sandbox, "twilio")
    form = request["form"]
    assert form["ContentSid"] == content_sid and "Body" not in form
    assert json.loads(form["ContentVariables"]) == {"1": render_notice(case, "sms").text}


def test_a_follow_up_is_a_plain_body_even_with_a_template(
    sandbox: SandboxThread, make_case: MakeCase, content_sid: str
) -> None:
    case = make_case(phone="+15551230003")
    assert channel_for("whatsapp").send_text(followup_message(case, "whatsapp", "Thank you.")).ok
    (request,) = sandbox_requests(sandbox, "twilio")
    assert request["form"]["Body"] == "Thank you." and "ContentSid" not in request["form"]


def test_no_phone_is_a_permanent_failure_without_a_request(
    sandbox: SandboxThread, make_case: MakeCase
) -> None:
    result = channel_for("whatsapp").send(notice_message(make_case(phone=None), "whatsapp", 0))
    assert result.failure is not None and result.failure.code == "no_address"
    assert sandbox_requests(sandbox, "twilio") == []


def test_the_port_knows_whatsapp_only_from_its_spec() -> None:
    spec = spec_for("whatsapp")
    assert spec.address == "phone" and spec.takes_replies and not spec.takes_keypresses
    assert "whatsapp" in reply_kinds()


@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_a_sender_is_whatsapp_exactly_when_it_carries_the_prefix(number: str) -> None:
    assert kind_for_sender(f"whatsapp:{number}") == ("whatsapp", number)
    assert kind_for_sender(number) == ("sms", number)


@given(st.text(max_size=40))
def test_any_sender_maps_to_a_reply_channel_and_an_address(sender: str) -> None:
    kind, address = kind_for_sender(sender)
    assert kind in reply_kinds() and sender.endswith(address)
