"""The launch-time template check: every template a campaign can send is rendered, and a
campaign's own notice must state what the recall policy requires."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from pipeline.campaigns.file import CampaignSpec
from pipeline.notices.check import template_errors
from pipeline.notices.templates import REASONS

BASE: dict[str, Any] = {
    "name": "Kettle recall",
    "description": "Kettles can overheat.",
    "remedy": "Stop using it.",
    "deadline": date(2030, 12, 31),
    "escalation": [{"channel": "sms", "wait": "24h"}],
}
HINT = " — or, if it says so in its own words, mark it with {# states: … #}"


def problems(templates: dict[str, Any], reason: str = "product_quality") -> list[Any]:
    return template_errors(
        CampaignSpec.model_validate({**BASE, "reason": reason, "templates": templates})
    )


@pytest.mark.parametrize("reason", REASONS)
def test_the_built_in_templates_pass_for_every_reason(reason: str) -> None:
    assert problems({}, reason) == []


def test_an_email_of_its_own_must_link_every_answer() -> None:
    text = "{{ reason_title }}: {{ description }} {{ remedy }} by {{ deadline }}. {{ agree_url }}"
    assert problems({"en": {"email_text": text}}) == [
        (
            ("templates", "en", "email_text"),
            "does not state how to answer (use {{ refuse_url }}, {{ query_url }})" + HINT,
        )
    ]


def test_a_voicemail_must_give_the_number_to_call_back() -> None:
    text = "{{ reason_title }} about {{ campaign }} before {{ deadline }}."
    assert problems({"en": {"voice_machine": text}}) == [
        (
            ("templates", "en", "voice_machine"),
            "does not state how to answer (give the number to call back: "
            "{{ callback_number }})" + HINT,
        )
    ]


def test_a_notice_may_vouch_for_parts_it_words_itself() -> None:
    sms = (
        "{# states: reason, scope, remedy #}Safety recall of your kettle: unplug it. "
        "Reply YES or NO by {{ deadline }}."
    )
    assert problems({"en": {"sms": sms}}) == []
    assert problems({"en": {"sms": "Reply YES or NO by {{ deadline }}."}}) != []


def test_each_locale_is_checked_with_its_own_templates() -> None:
    found = problems({"en-GB": {"help": "{{ nope }}"}, "zh-CN": {"query_ack": "{% if %}"}})
    assert [location for location, _ in found] == [
        ("templates", "zh-CN", "query_ack"),
        ("templates", "en-GB", "help"),
    ]


def test_a_template_key_must_be_a_locale() -> None:
    (found,) = problems({"english please": {"help": "Hi"}})
    assert found == (
        ("templates", "english please"),
        "not a locale; write it like en, en-GB or zh-CN (a template key is a locale)",
    )
