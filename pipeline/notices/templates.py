"""Message templates: what each channel says, in the recipient's language.

Built-in templates exist for every campaign reason in ``en`` and ``zh-CN``
(``pipeline/notices/notices.<locale>.yaml``). A campaign may supply its own per locale in its file
(``templates: {en: {sms: "...", email_subject: "..."}}``, stored in ``Campaign.spec``); a part
it supplies replaces the built-in one. Parts: ``sms``, ``email_subject``, ``email_text``
(alias ``email_body``), ``email_html``, ``voice``, ``voice_machine`` and the follow-up kinds
(``confirmation``, ...). A campaign that words its own plain-text email but no HTML gets the
HTML made from its text, so both parts always say the same thing.

Locales: a recipient's locale is matched exactly against the campaign's templates, then by
language; built-ins exist for English and Simplified Chinese, and anything else falls back to
English. Jinja2 runs with StrictUndefined, so a template naming a variable that does not exist
fails loudly instead of texting users a blank; only HTML is autoescaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jinja2 import Environment, StrictUndefined, Template
from markupsafe import escape

from pipeline.inbound.reply_codes import notice_hint, which_recalls
from pipeline.privacy.tokens import make_response_token
from pipeline.refusals.catalogue import campaign_reasons, choices_text
from pipeline.satisfaction.links import satisfaction_url
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from pipeline.models import Case

REASONS = ("product_quality", "rule_change", "security_incident", "regulatory", "other")
LOCALES = ("en", "zh-CN")
FALLBACK_LOCALE = "en"
FOLLOWUP_KINDS = (
    "confirmation",
    "refusal_followup",
    "query_ack",
    "opt_out_confirmation",
    "opt_in_confirmation",
    "help",
    "agent_answer",
    "complaint_ack",
    "remedy_reminder",
    "satisfaction_question",
    "refusal_reason_ack",
    "which_campaign",
)
NOTICE_PARTS = ("sms", "email_subject", "email_text", "email_html", "voice", "voice_machine")
TEMPLATE_PARTS = (*NOTICE_PARTS, "followup_subject", *FOLLOWUP_KINDS)
RESPONSE_ANSWERS = ("agree", "refuse", "query")


@dataclass(frozen=True)
class Notice:
    """A rendered notice. ``text`` is the SMS body, the email's plain part or the voice
    script; email adds ``subject`` and ``html``; voice adds ``machine_text``."""

    channel: str
    locale: str
    text: str
    subject: str | None = None
    html: str | None = None
    machine_text: str | None = None
    links: Mapping[str, str] | None = None


@cache
def builtin_templates(locale: str) -> dict[str, Any]:
    """The built-in template file for one of LOCALES, parsed."""
    source = (
        resources.files("pipeline.notices").joinpath(f"notices.{locale}.yaml").read_text("utf-8")
    )
    return yaml.safe_load(source)  # type: ignore[no-any-return]


def builtin_locale(locale: str | None) -> str:
    """The built-in locale that serves ``locale``: Chinese variants → zh-CN, else en."""
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return "zh-CN" if language == "zh" else FALLBACK_LOCALE


PART_ALIASES = {"email_text": ("email_text", "email_body")}


def _campaign_part(templates: Mapping[str, Any], locale: str, part: str) -> str | None:
    by_key = {str(key).replace("_", "-").lower(): value for key, value in templates.items()}
    wanted = locale.replace("_", "-").lower()
    for key in (wanted, wanted.split("-")[0], builtin_locale(locale).lower()):
        parts = by_key.get(key)
        if not isinstance(parts, Mapping):
            continue
        for name in PART_ALIASES.get(part, (part,)):
            if parts.get(name):
                return str(parts[name])
    return None


def campaign_part(templates: Mapping[str, Any], locale: str, part: str) -> str | None:
    """The campaign's own source for ``part`` in ``locale`` (by exact locale, then its
    language), or None where the built-in one is used."""
    return _campaign_part(templates, locale, part)


def template_source(
    reason: str, locale: str, part: str, campaign_templates: Mapping[str, Any] | None = None
) -> str:
    """The Jinja2 source used for ``part``: the campaign's, else the built-in one."""
    own = _campaign_part(campaign_templates or {}, locale, part)
    if own is not None:
        return own
    builtin = builtin_templates(builtin_locale(locale))
    reason_block = builtin["reasons"].get(reason) or builtin["reasons"]["other"]
    if part in reason_block:
        return str(reason_block[part])
    if part == "followup_subject":
        return str(builtin["followups"]["subject"])
    if part in FOLLOWUP_KINDS:
        return str(builtin["followups"][part])
    return str(builtin["parts"][part])


_SENTENCE_ENDS = tuple(".!?。！？…")


def sentence(value: object, stop: str = ".") -> str:
    """Jinja filter: ``value`` ending in a full stop, so free text reads as a sentence."""
    text = str(value).strip()
    return text if not text or text.endswith(_SENTENCE_ENDS) else text + stop


@lru_cache(maxsize=512)
def _compile(source: str, html: bool) -> Template:
    environment = Environment(
        undefined=StrictUndefined, autoescape=html, keep_trailing_newline=True
    )
    environment.filters["sentence"] = sentence
    return environment.from_string(source)


def render_source(source: str, context: Mapping[str, Any], *, html: bool = False) -> str:
    return _compile(source, html).render(**context).strip()


def format_deadline(deadline: datetime, locale: str, tz_name: str) -> str:
    """The deadline in the recipient's time zone, written the way their language writes it."""
    try:
        local = deadline.astimezone(ZoneInfo(tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        local = deadline
    if builtin_locale(locale) == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%B %Y, %H:%M}"


def reason_context(reason: str, locale: str) -> dict[str, str]:
    reasons = builtin_templates(builtin_locale(locale))["reasons"]
    block = reasons.get(reason) or reasons["other"]
    return {"reason_title": str(block["title"]), "reason_intro": str(block["intro"])}


def case_context(case: Case) -> dict[str, Any]:
    """Everything a template may name, for one case (links excluded)."""
    campaign, recipient = case.campaign, case.recipient
    locale = recipient.locale or FALLBACK_LOCALE
    return {
        "name": recipient.name or "",
        "campaign": campaign.name,
        "reason": campaign.reason,
        **reason_context(campaign.reason, locale),
        "description": campaign.description.strip(),
        "remedy": campaign.remedy.strip(),
        "deadline": format_deadline(campaign.deadline, locale, recipient.timezone or "UTC"),
        "help_text": (campaign.help_text or "").strip(),
        "callback_number": get_settings().callback_number,
        "text": None,
        # When a complaint's answer is due (pipeline.complaints), in the person's own time.
        "expected": _expected(case, locale),
        # Filled only for the follow-ups that show them (render_followup): a query per case
        # for every notice would be waste.
        "refusal_choices": "",
        "recalls": "",
    }


def _expected(case: Case, locale: str) -> str:
    due = case.query_due_at
    return format_deadline(due, locale, case.recipient.timezone or "UTC") if due else ""


def response_links(case: Case) -> dict[str, str]:
    """Signed links for agree / refuse / query, and the one-click unsubscribe link."""
    base = get_settings().public_url.rstrip("/")
    deadline = case.campaign.deadline
    answers = (*RESPONSE_ANSWERS, "opt_out")
    return {
        f"{answer}_url" if answer != "opt_out" else "unsubscribe_url": (
            f"{base}/r/{make_response_token(case.id, answer, deadline)}"
        )
        for answer in answers
    }


def _campaign_templates(case: Case) -> Mapping[str, Any]:
    return (case.campaign.spec or {}).get("templates") or {}


def _render_part(case: Case, part: str, context: Mapping[str, Any]) -> str:
    source = template_source(
        case.campaign.reason,
        case.recipient.locale or FALLBACK_LOCALE,
        part,
        _campaign_templates(case),
    )
    return render_source(source, context, html=part == "email_html")


_URL = re.compile(r"(https?://[^\s<>\"]+)")


def html_from_text(text: str) -> str:
    """Plain text as simple HTML: escaped, one paragraph per blank-line block, links live."""
    paragraphs = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    rendered = []
    for block in paragraphs:
        escaped = str(escape(block)).replace("\n", "<br>\n")
        rendered.append("<p>" + _URL.sub(r'<a href="\1">\1</a>', escaped) + "</p>")
    return "\n".join(rendered)


def _email_html(case: Case, text: str, context: Mapping[str, Any]) -> str:
    locale = case.recipient.locale or FALLBACK_LOCALE
    templates = _campaign_templates(case)
    own_html = _campaign_part(templates, locale, "email_html")
    if own_html is None and _campaign_part(templates, locale, "email_text") is not None:
        return html_from_text(text)
    return _render_part(case, "email_html", context)


def render_notice(case: Case, channel: str) -> Notice:
    """The notice for ``case`` on ``channel`` ("sms", "email" or "voice")."""
    context = case_context(case)
    locale = builtin_locale(case.recipient.locale)
    if channel == "sms":
        # One phone with several open recalls: the notice says which code to reply with.
        text = _render_part(case, "sms", context) + notice_hint(case, locale)
        return Notice(channel, locale, text=text)
    if channel == "voice":
        return Notice(
            channel,
            locale,
            text=_render_part(case, "voice", context),
            machine_text=_render_part(case, "voice_machine", context),
        )
    if channel == "email":
        links = response_links(case)
        context = {**context, **links}
        text = _render_part(case, "email_text", context)
        return Notice(
            channel,
            locale,
            subject=_render_part(case, "email_subject", context),
            text=text,
            html=_email_html(case, text, context),
            links=links,
        )
    raise ValueError(f"unknown channel {channel!r}; expected sms, email or voice")


def render_followup(kind: str, case: Case, text: str | None = None) -> str:
    """A follow-up message of ``kind`` (see FOLLOWUP_KINDS); agent_answer needs ``text``."""
    if kind not in FOLLOWUP_KINDS:
        raise ValueError(f"unknown follow-up kind {kind!r}; expected one of {FOLLOWUP_KINDS}")
    if kind == "agent_answer" and not text:
        raise ValueError("an agent_answer follow-up needs the agent's text")
    asks = kind == "satisfaction_question"
    extra = {"satisfaction_url": satisfaction_url(case.id)} if asks else {}
    return _render_part(
        case, kind, {**case_context(case), "text": text, **extra, **_lists(kind, case)}
    )


def _lists(kind: str, case: Case) -> dict[str, str]:
    """The numbered reasons a refusal follow-up offers; the recalls a "which one?" lists."""
    locale = builtin_locale(case.recipient.locale)
    if kind == "refusal_followup":
        reasons = campaign_reasons(case.campaign.reason, case.campaign.spec)
        return {"refusal_choices": choices_text(reasons, locale)}
    if kind == "which_campaign":
        return {"recalls": which_recalls(case, locale)}
    return {}


def render_followup_subject(case: Case) -> str:
    """The subject line for a follow-up sent by email."""
    return _render_part(case, "followup_subject", case_context(case))


def voice_prompt(locale: str | None, name: str) -> str:
    return str(builtin_templates(builtin_locale(locale))["voice_prompts"][name])


BASE_VARIABLES = frozenset(
    {"name", "campaign", "reason", "reason_title", "reason_intro", "description", "remedy"}
    | {"deadline", "help_text", "callback_number", "text"}
)
EMAIL_VARIABLES = frozenset({"agree_url", "refuse_url", "query_url", "unsubscribe_url"})
# Variables that mean something in one message only: the complaint's expected answer in its
# ack, the satisfaction link in the question, the numbered reasons in the refusal
# follow-up, the list of open recalls in "which one did you mean?".
PART_VARIABLES: dict[str, frozenset[str]] = {
    "complaint_ack": frozenset({"expected"}),
    "satisfaction_question": frozenset({"satisfaction_url"}),
    "refusal_followup": frozenset({"refusal_choices"}),
    "which_campaign": frozenset({"recalls"}),
}


def part_variables(part: str) -> frozenset[str]:
    """The variables a template for ``part`` may name."""
    allowed = BASE_VARIABLES | (EMAIL_VARIABLES if part.startswith("email") else frozenset())
    return allowed | PART_VARIABLES.get(part, frozenset())


KNOWN_PARTS = frozenset({*TEMPLATE_PARTS, "email_body"})


def template_problems(templates: Mapping[str, Any]) -> list[str]:
    """What is wrong with a campaign's own templates, one line each, e.g.
    ``templates.en.sms: unknown variable 'nickname'`` — for checking at launch, before
    StrictUndefined would stop the sends."""
    problems: list[str] = []
    environment = Environment(undefined=StrictUndefined)
    for locale, parts in templates.items():
        for part, source in (parts or {}).items():
            where = f"templates.{locale}.{part}"
            if part not in KNOWN_PARTS:
                problems.append(f"{where}: unknown part (expected one of {sorted(KNOWN_PARTS)})")
            elif source:
                problems.extend(_source_problems(environment, where, part, str(source)))
    return problems


def _source_problems(environment: Environment, where: str, part: str, source: str) -> list[str]:
    from jinja2 import TemplateSyntaxError, meta

    try:
        parsed = environment.parse(source)
    except TemplateSyntaxError as error:
        return [f"{where}: line {error.lineno}: {error.message}"]
    unknown = sorted(meta.find_undeclared_variables(parsed) - part_variables(part))
    return [f"{where}: unknown variable {name!r}" for name in unknown]
