"""TwiML the voice webhooks answer with: the notice (from the channels team's
``channels.voice.voice_twiml``), and short closing lines in the recipient's language."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from pipeline.models import Case

# Twilio's AnsweredBy values that mean nobody is listening live.
_MACHINE = {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}

_THANKS = {
    "en": "Thank you. Your answer has been recorded. Goodbye.",
    "zh-CN": "谢谢您。您的回答已记录。再见。",
}
_NO_INPUT = {
    "en": "We did not receive an answer. We will contact you again. Goodbye.",
    "zh-CN": "我们没有收到您的回答。我们会再次联系您。再见。",
}


def page_locale(locale: str | None) -> str:
    """The supported locale closest to a recipient's: ``zh-CN`` for any Chinese, else ``en``."""
    return "zh-CN" if (locale or "").lower().startswith("zh") else "en"


def machine_answered(answered_by: str | None) -> bool:
    return (answered_by or "") in _MACHINE


def load_case(engine: Engine, case_id: int) -> Case | None:
    """The case with its recipient and campaign loaded (both are joined eagerly)."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Case, case_id)


def gather_url(public_url: str, case_id: int) -> str:
    return f"{public_url.rstrip('/')}/webhooks/twilio/voice/gather?case_id={case_id}"


def voice_twiml_for(case: Case, public_url: str, *, machine: bool = False) -> str:
    """The call's TwiML: the notice and the keypress menu, or a short message for a machine."""
    from channels.voice import voice_twiml  # the channels team's module

    return voice_twiml(case, gather_url=gather_url(public_url, case.id), machine=machine)


def thanks_twiml(case: Case | None, *, answered: bool) -> str:
    """Close the call in the recipient's language (English when the case is unknown)."""
    locale = page_locale(case.recipient.locale if case is not None else None)
    response = VoiceResponse()
    response.say((_THANKS if answered else _NO_INPUT)[locale], language=locale)
    response.hangup()
    return str(response)
