"""TwiML the voice webhooks answer with. The core renders the notice and the spoken
follow-ups (``pipeline.notices.outbound.keypress_message``), ``channels.voice`` turns them
into TwiML; this module adds the URLs and the cases it cannot handle (a call whose case is
gone)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from channels.base import ChannelKind
from channels.voice import keypress_twiml, voice_twiml
from pipeline.models import Case
from pipeline.notices.outbound import keypress_message
from pipeline.notices.templates import builtin_locale

# Twilio's AnsweredBy values that mean nobody is listening live.
_MACHINE = {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}

_GOODBYE = {
    "en": ("Thank you. Goodbye.", "en-US"),
    "zh-CN": ("谢谢您。再见。", "cmn-CN"),
}


def machine_answered(answered_by: str | None) -> bool:
    return (answered_by or "") in _MACHINE


def load_case(engine: Engine, case_id: int) -> Case | None:
    """The case with its recipient and campaign loaded (both are joined eagerly)."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Case, case_id)


def _url(public_url: str, path: str, case_id: int) -> str:
    return f"{public_url.rstrip('/')}/webhooks/twilio/voice/{path}?case_id={case_id}"


def voice_twiml_for(case: Case, public_url: str, *, machine: bool = False) -> str:
    """The call's TwiML: the notice and the keypress menu, or a short message for a machine."""
    message = keypress_message(case, ChannelKind.VOICE, case.step)
    return voice_twiml(message, gather_url=_url(public_url, "gather", case.id), machine=machine)


def keypress_reply(case: Case | None, digits: str, public_url: str) -> str:
    """What the caller hears after pressing ``digits`` (nothing pressed: the notice again)."""
    if case is None:
        return goodbye_twiml(None)
    return keypress_twiml(
        keypress_message(case, ChannelKind.VOICE, case.step),
        digits,
        gather_url=_url(public_url, "gather", case.id),
        record_url=_url(public_url, "record", case.id),
    )


def goodbye_twiml(case: Case | None) -> str:
    """Close the call in the recipient's language (English when the case is unknown)."""
    text, language = _GOODBYE[builtin_locale(case.recipient.locale if case is not None else None)]
    response = VoiceResponse()
    response.say(text, language=language)
    response.hangup()
    return str(response)
