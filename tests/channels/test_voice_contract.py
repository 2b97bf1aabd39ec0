"""The voice adapter and its TwiML, through the real twilio client against the sandbox."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from twilio.request_validator import RequestValidator

from channels.callbacks import CONNECTION_OVERRIDES
from channels.registry import channel_for
from channels.sandbox.runner import SandboxThread
from channels.voice import keypress_twiml, voice_twiml
from pipeline.models import Case
from pipeline.notices.outbound import followup_message, keypress_message, notice_message
from pipeline.notices.templates import render_followup, render_notice
from tests.channels.channels_testkit import ACCOUNT_SID, AUTH_TOKEN, Receiver, sandbox_requests

MakeCase = Callable[..., Case]
GATHER = "https://recall.example/webhooks/twilio/voice/gather?case=1"
RECORD = "https://recall.example/webhooks/twilio/voice/recording?case=1"


@pytest.mark.parametrize(("locale", "language"), [("en", "en-US"), ("zh-CN", "cmn-CN")])
def test_menu_twiml(make_case: MakeCase, locale: str, language: str) -> None:
    case = make_case(locale=locale)
    root = ET.fromstring(voice_twiml(keypress_message(case, "voice", 0), gather_url=GATHER))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib["numDigits"] == "1"
    assert gather.attrib["action"] == GATHER
    say = gather.find("Say")
    assert say is not None and say.attrib["language"] == language
    assert say.text == render_notice(case, "voice").text
    assert root.find("Hangup") is not None


def test_machine_twiml_leaves_a_callback_number(make_case: MakeCase) -> None:
    case = make_case()
    root = ET.fromstring(
        voice_twiml(keypress_message(case, "voice", 0), gather_url=GATHER, machine=True)
    )
    assert root.find("Gather") is None
    say = root.find("Say")
    assert say is not None and "+15005550006" in (say.text or "")
    assert say.text == render_notice(case, "voice").machine_text


@pytest.mark.parametrize(
    ("digit", "kind", "verb"),
    [("1", "confirmation", None), ("2", "refusal_followup", None), ("3", "query_ack", "Record")],
)
def test_keypress_twiml(make_case: MakeCase, digit: str, kind: str, verb: str | None) -> None:
    case = make_case(locale="zh-CN")
    root = ET.fromstring(
        keypress_twiml(
            keypress_message(case, "voice", 0), digit, gather_url=GATHER, record_url=RECORD
        )
    )
    say = root.find("Say")
    assert say is not None and say.text == render_followup(kind, case)
    if verb:
        record = root.find(verb)
        assert record is not None and record.attrib["action"] == RECORD


def test_nine_repeats_the_menu(make_case: MakeCase) -> None:
    case = make_case()
    repeat = keypress_twiml(
        keypress_message(case, "voice", 0), "9", gather_url=GATHER, record_url=RECORD
    )
    assert repeat == voice_twiml(keypress_message(case, "voice", 0), gather_url=GATHER)


def test_pressing_three_reaches_the_agent_when_one_is_set(
    make_case: MakeCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.settings import get_settings

    monkeypatch.setenv("RECALL_AGENT_NUMBER", "+15557654321")
    get_settings.cache_clear()
    try:
        root = ET.fromstring(
            keypress_twiml(
                keypress_message(make_case(), "voice", 0), "3", gather_url=GATHER, record_url=RECORD
            )
        )
    finally:
        get_settings.cache_clear()
    dial = root.find("Dial")
    assert dial is not None and dial.text == "+15557654321"


def test_call_request_is_what_twilio_expects(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    case = make_case(phone="+15551239000")
    result = channel_for("voice").send(notice_message(case, "voice", 1))

    assert result.ok and result.provider_id and result.provider_id.startswith("CA")
    (request,) = sandbox_requests(sandbox, "twilio")
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert request["form"] == {
        "To": "+15551239000",
        "From": "+15005550006",
        "Url": f"{receiver.url}/webhooks/twilio/voice?case_id={case.id}" + CONNECTION_OVERRIDES,
        "Method": "POST",
        "StatusCallback": f"{receiver.url}/webhooks/twilio/call-status" + CONNECTION_OVERRIDES,
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": "POST",
        "MachineDetection": "DetectMessageEnd",
    }


def test_followup_call_sends_inline_twiml(sandbox: SandboxThread, make_case: MakeCase) -> None:
    case = make_case(phone="+15551239001")
    assert (
        channel_for("voice")
        .send_text(followup_message(case, "voice", "Your question was answered."))
        .ok
    )
    (request,) = sandbox_requests(sandbox, "twilio")
    assert "Url" not in request["form"]
    say = ET.fromstring(request["form"]["Twiml"]).find("Say")
    assert say is not None and say.text == "Your question was answered."


@pytest.mark.parametrize(("answer", "digit"), [("agree", "1"), ("refuse", "2"), ("query", "3")])
def test_call_fetches_twiml_and_presses_a_key(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase, answer: str, digit: str
) -> None:
    case = make_case(phone="+15551239002")
    gather_url = f"{receiver.url}/webhooks/twilio/voice/gather?case={case.id}"
    record_url = f"{receiver.url}/webhooks/twilio/voice/recording?case={case.id}"
    receiver.responses["/webhooks/twilio/voice"] = (
        "text/xml",
        voice_twiml(keypress_message(case, "voice", 0), gather_url=gather_url),
    )
    receiver.responses["/webhooks/twilio/voice/gather"] = (
        "text/xml",
        keypress_twiml(
            keypress_message(case, "voice", 0), digit, gather_url=gather_url, record_url=record_url
        ),
    )
    shares = {"agree": 0, "refuse": 0, "query": 0, "stop": 0, "silence": 0, answer: 1}
    sandbox.configure(users=True, shares=shares)
    result = channel_for("voice").send(notice_message(case, "voice", 1))
    sandbox.wait_idle()

    validator = RequestValidator(AUTH_TOKEN)
    (fetch,) = receiver.at("/webhooks/twilio/voice")
    assert fetch.form["CallSid"] == result.provider_id
    assert fetch.form["AnsweredBy"] == "human"
    (press,) = receiver.at("/webhooks/twilio/voice/gather")
    assert press.form["Digits"] == digit
    for request in (fetch, press):
        signature = request.headers["X-Twilio-Signature"]
        assert validator.validate(receiver.url + request.path, request.form, signature)
    statuses = [r.form["CallStatus"] for r in receiver.at("/webhooks/twilio/call-status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    recordings = receiver.at("/webhooks/twilio/voice/recording")
    assert len(recordings) == (1 if answer == "query" else 0)


def test_answering_machine_gets_no_menu(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    case = make_case(phone="+15551239977")
    sandbox.configure(users=True, shares={"agree": 1})
    channel_for("voice").send(notice_message(case, "voice", 1))
    sandbox.wait_idle()
    (fetch,) = receiver.at("/webhooks/twilio/voice")
    assert fetch.form["AnsweredBy"] == "machine_end_beep"
    assert receiver.at("/webhooks/twilio/voice/gather") == []
