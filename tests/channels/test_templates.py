from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from jinja2 import UndefinedError

from channels.segments import count_segments
from pipeline.models import Case
from pipeline.notices.templates import (
    FOLLOWUP_KINDS,
    REASONS,
    TEMPLATE_PARTS,
    render_followup,
    render_notice,
    template_problems,
)
from pipeline.privacy.tokens import read_response_token

MakeCase = Callable[..., Case]

HAN = re.compile(r"[\u4e00-\u9fff]")

ANSWER_WORDS = {
    "en": ("YES", "NO", "question", "STOP"),
    "zh-CN": ("同意", "不同意", "咨询", "STOP"),
}
TITLES = {
    "en": {
        "product_quality": "Product recall",
        "rule_change": "Change to our rules",
        "security_incident": "Security notice",
        "regulatory": "Regulatory notice",
        "other": "Important notice",
    },
    "zh-CN": {
        "product_quality": "产品召回",
        "rule_change": "规则变更",
        "security_incident": "安全通知",
        "regulatory": "监管通知",
        "other": "重要通知",
    },
}


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("reason", REASONS)
def test_every_notice_renders(make_case: MakeCase, reason: str, locale: str) -> None:
    case = make_case(reason=reason, locale=locale)
    title = TITLES[locale][reason]
    deadline = "31 March 2030, 17:00" if locale == "en" else "2030年3月31日 17:00"

    sms = render_notice(case, "sms")
    assert title in sms.text and "KX kettles" in sms.text and "refund" in sms.text
    assert deadline in sms.text
    assert all(word in sms.text for word in ANSWER_WORDS[locale])
    assert bool(HAN.search(sms.text)) is (locale == "zh-CN")

    email = render_notice(case, "email")
    assert email.subject and title in email.subject
    for part in (email.text, email.html):
        assert part and "KX kettles" in part and "refund" in part and deadline in part
    assert email.links is not None
    for answer in ("agree", "refuse", "query"):
        url = email.links[f"{answer}_url"]
        assert url in email.text and f'href="{url}"' in (email.html or "")
        token = url.rsplit("/r/", 1)[1]
        assert read_response_token(token, case.campaign.deadline) == (case.id, answer)

    voice = render_notice(case, "voice")
    assert title in voice.text and "KX kettles" in voice.text
    assert all(digit in voice.text for digit in "1239")
    assert voice.machine_text and "+1" in voice.machine_text


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("kind", FOLLOWUP_KINDS)
def test_every_followup_renders(make_case: MakeCase, kind: str, locale: str) -> None:
    case = make_case(locale=locale)
    text = render_followup(kind, case, text="Yes, the 2028 model is safe.")
    assert text and "{{" not in text
    assert bool(HAN.search(text)) is (locale == "zh-CN")
    if kind == "agent_answer":
        assert "2028 model is safe" in text


def test_agent_answer_needs_text(make_case: MakeCase) -> None:
    with pytest.raises(ValueError, match="agent"):
        render_followup("agent_answer", make_case())
    with pytest.raises(ValueError, match="follow-up kind"):
        render_followup("thanks", make_case())


@pytest.mark.parametrize(("locale", "han"), [("fr", False), ("zh", True), ("zh_TW", True)])
def test_locale_fallback(make_case: MakeCase, locale: str, han: bool) -> None:
    assert bool(HAN.search(render_notice(make_case(locale=locale), "sms").text)) is han


def test_campaign_template_overrides_one_part(make_case: MakeCase) -> None:
    case = make_case(
        locale="en-GB",
        templates={"en": {"sms": "{{ campaign }} recall: {{ remedy }}. Reply YES/NO."}},
    )
    assert render_notice(case, "sms").text == (
        f"{case.campaign.name} recall: Stop using the kettle and return it to any store"
        " for a refund. Reply YES/NO."
    )
    # Parts it does not supply stay the built-in ones.
    assert "Product recall" in (render_notice(case, "email").subject or "")


def test_campaign_template_in_a_language_without_builtins(make_case: MakeCase) -> None:
    case = make_case(locale="fr", templates={"fr": {"sms": "Rappel : {{ remedy }}"}})
    assert render_notice(case, "sms").text.startswith("Rappel : Stop using")


def test_strict_undefined(make_case: MakeCase) -> None:
    case = make_case(templates={"en": {"sms": "Hello {{ nickname }}"}})
    with pytest.raises(UndefinedError):
        render_notice(case, "sms")


def test_html_is_escaped_and_sms_is_not(make_case: MakeCase) -> None:
    case = make_case(name="Tom & <Jerry>")
    assert "Tom &amp; &lt;Jerry&gt;" in (render_notice(case, "email").html or "")
    assert "Tom & <Jerry>" in render_notice(case, "email").text
    case = make_case(templates={"en": {"sms": "{{ name }}: {{ remedy }}"}}, name="A&B")
    assert render_notice(case, "sms").text.startswith("A&B:")


def test_builtin_sms_stays_within_three_segments(make_case: MakeCase) -> None:
    english = render_notice(make_case(locale="en"), "sms").text
    assert count_segments(english).segments <= 3
    chinese_case = make_case(
        locale="zh-CN",
        description="2029年售出、序列号以41开头的KX电水壶",
        remedy="请停止使用该水壶，并将其退回任意门店办理退款",
    )
    chinese = render_notice(chinese_case, "sms").text
    assert count_segments(chinese).segments <= 3


def test_free_text_reads_as_sentences(make_case: MakeCase) -> None:
    english = render_notice(make_case(), "sms").text
    assert "starting 41. What to do: Stop using" in english
    assert "for a refund. Deadline" in english
    case = make_case(locale="zh-CN", description="KX电水壶。", remedy="退回门店")
    chinese = render_notice(case, "sms").text
    assert "影响范围：KX电水壶。处理方式：退回门店。" in chinese


def test_campaign_email_body_makes_the_html_too(make_case: MakeCase) -> None:
    body = "Dear {{ name }},\n\n{{ remedy }}.\n\nAgree: {{ agree_url }}"
    case = make_case(templates={"en": {"email_body": body}}, name="Bo <3")
    notice = render_notice(case, "email")
    assert notice.text.startswith("Dear Bo <3,")
    assert notice.links is not None
    agree = notice.links["agree_url"]
    assert notice.html is not None
    assert notice.html.startswith("<p>Dear Bo &lt;3,</p>")
    assert f'<a href="{agree}">{agree}</a>' in notice.html


def test_template_problems_found_before_sending() -> None:
    problems = template_problems(
        {
            "en": {"sms": "Hi {{ nickname }}", "email_body": "{{ agree_url }}", "fax": "x"},
            "zh-CN": {"voice": "{% if %}", "sms": "{{ agree_url }}", "email_subject": None},
        }
    )
    assert problems == [
        "templates.en.sms: unknown variable 'nickname'",
        "templates.en.fax: unknown part (expected one of "
        + str(sorted({*TEMPLATE_PARTS, "email_body"}))
        + ")",
        "templates.zh-CN.voice: line 1: Expected an expression, got 'end of statement block'",
        "templates.zh-CN.sms: unknown variable 'agree_url'",
    ]
    assert template_problems({"en": {"sms": "{{ name }}: {{ remedy }} by {{ deadline }}"}}) == []
