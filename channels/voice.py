"""Twilio voice: a call that reads the notice in the recipient's language and gathers one
digit — 1 agree, 2 refuse, 3 a question (put through to an agent, or leave a message),
9 repeat. Answering machines (machine detection) get a short message with a callback number.

The call fetches its TwiML from ``/webhooks/twilio/voice?case_id=ID``; the web app answers with
``voice_twiml(message, gather_url=...)`` and handles the keypress with ``keypress_twiml``;
``message`` is the core's rendered notice with its spoken answers
(``pipeline.notices.outbound.keypress_message``).
"""

from __future__ import annotations

import logging

from twilio.twiml.voice_response import VoiceResponse

from channels.base import Channel, ChannelKind, ChannelSpec, Outbound, SendFailure, SendResult
from channels.callbacks import twilio_callback_url
from channels.clients import twilio_client
from channels.sms import call_twilio, no_address
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

VOICE_PATH = "/webhooks/twilio/voice"
CALL_STATUS_PATH = "/webhooks/twilio/call-status"
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Text-to-speech per built-in locale: Amazon Polly voices that Twilio offers.
VOICES = {
    "en": {"language": "en-US", "voice": "Polly.Joanna"},
    "zh-CN": {"language": "cmn-CN", "voice": "Polly.Zhiyu"},
}
DIGIT_ANSWERS = {"1": "agree", "2": "refuse", "3": "query"}
REPEAT_DIGIT = "9"
GATHER_TIMEOUT_SECONDS = 8
QUESTION_MAX_SECONDS = 120


def _say_args(message: Outbound) -> dict[str, str]:
    return VOICES.get(message.locale, VOICES["en"])


def voice_twiml(message: Outbound, *, gather_url: str, machine: bool = False) -> str:
    """The TwiML of a notice call: the menu for a person, a short message for a machine."""
    say = _say_args(message)
    response = VoiceResponse()
    if machine:
        response.say(message.machine_text or "", **say)
        response.hangup()
        return str(response)
    gather = response.gather(
        num_digits=1, action=gather_url, method="POST", timeout=GATHER_TIMEOUT_SECONDS
    )
    gather.say(message.text, **say)
    response.say(message.spoken["no_input"], **say)
    response.hangup()
    return str(response)


def keypress_twiml(message: Outbound, digits: str, *, gather_url: str, record_url: str) -> str:
    """The TwiML answering a keypress: a spoken confirmation, the agent or a recording for
    a question, or the notice again (9, or a key that means nothing)."""
    answer = DIGIT_ANSWERS.get(digits)
    if answer is None:
        return voice_twiml(message, gather_url=gather_url)
    say = _say_args(message)
    response = VoiceResponse()
    response.say(message.spoken[answer], **say)
    if answer == "query":
        agent = get_settings().agent_number
        if agent:
            response.dial(agent)
        else:
            response.record(action=record_url, method="POST", max_length=QUESTION_MAX_SECONDS)
    response.hangup()
    return str(response)


def spoken_text_twiml(message: Outbound) -> str:
    response = VoiceResponse()
    response.say(message.text, **_say_args(message))
    response.hangup()
    return str(response)


class VoiceChannel(Channel):
    spec = ChannelSpec(
        ChannelKind.VOICE,
        "phone",
        takes_replies=False,
        takes_keypresses=True,
        cost_unit="min",
        order=3,
        cap_setting="max_calls_per_day",
    )

    def send(self, message: Outbound) -> SendResult:
        # The call fetches its script when answered (``voice_twiml``), so the rendered
        # notice is not sent from here.
        url = twilio_callback_url(VOICE_PATH, f"case_id={message.case_id}")
        return self._call(message, url=url)

    def send_text(self, message: Outbound) -> SendResult:
        return self._call(message, twiml=spoken_text_twiml(message))

    def _call(self, message: Outbound, **how: str) -> SendResult:
        if not message.address:
            return no_address("phone number on file")
        settings = get_settings()
        if not settings.twilio_from:
            raise ValueError("voice calls need RECALL_TWILIO_FROM (a number that can call)")
        created = call_twilio(
            twilio_client().calls.create,
            message.case_id,
            to=message.address,
            from_=settings.twilio_from,
            method="POST",
            status_callback=twilio_callback_url(CALL_STATUS_PATH),
            status_callback_event=CALL_EVENTS,
            status_callback_method="POST",
            # Waits for the greeting to end so the left message is not cut by the beep.
            machine_detection="DetectMessageEnd",
            **how,
        )
        if isinstance(created, SendFailure):
            return SendResult(failure=created)
        log.info("voice.called case=%s sid=%s", message.case_id, created.sid)
        return SendResult(provider_id=created.sid, cost_units=0.0)
