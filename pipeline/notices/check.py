"""Checking a campaign's templates completely at launch, before anything is sent.

Every template the campaign can send — each locale it words (and the built-in ``en`` and
``zh-CN``) × every notice part and follow-up kind — is parsed, its variables checked, and
rendered with the campaign's own data and a sample recipient, exactly as the pipeline will.
A campaign's own notice must also state what the recall policy requires
(``POLICIES.md``: the reason, the scope, the remedy, the deadline and how to answer). Each
problem comes back as (location in the campaign file, what is wrong and what to do).

A notice that words a part itself instead of using its variable says so with a Jinja
comment, ``{# states: reason, scope, remedy #}``: the check cannot read prose, so the
author vouches for it in the file, where a reviewer sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, StrictUndefined, TemplateSyntaxError, UndefinedError, meta

from pipeline.notices.templates import (
    TEMPLATE_PARTS,
    campaign_part,
    case_context,
    part_variables,
    render_source,
    response_links,
    sentence,
    template_source,
)

if TYPE_CHECKING:
    from pipeline.campaigns.file import CampaignSpec
    from pipeline.models import Campaign, Case

Location = tuple[Any, ...]
Problem = tuple[Location, str]

# Policy element → (variables that state it, how to say it is missing).
STATEMENTS: dict[str, tuple[frozenset[str], str]] = {
    "reason": (
        frozenset({"reason_title", "reason_intro", "reason"}),
        "the reason for the recall (use {{ reason_title }} or {{ reason_intro }})",
    ),
    "scope": (
        frozenset({"description", "campaign"}),
        "the scope, what is affected (use {{ description }})",
    ),
    "remedy": (frozenset({"remedy"}), "the remedy, what the user must do (use {{ remedy }})"),
    "deadline": (frozenset({"deadline"}), "the deadline (use {{ deadline }})"),
}
EMAIL_ANSWERS = ("agree_url", "refuse_url", "query_url")
# Reply words the SMS classifier understands (pipeline.inbound.replies), in the languages we ship.
SMS_AGREE = re.compile(r"\b(?:yes|ok)\b|同意", re.IGNORECASE)
SMS_REFUSE = re.compile(r"\bno\b|不同意|拒绝", re.IGNORECASE)
_STATES = re.compile(r"\{#-?\s*states\s*:([^#]*)-?#\}")
_POLICY_PARTS = ("sms", "email_text", "email_html", "voice", "voice_machine")


def template_errors(spec: CampaignSpec) -> list[Problem]:
    """Every problem with the templates ``spec`` can send; empty when all is well."""
    problems: list[Problem] = []
    for locale in spec.templates:
        problems.extend(_locale_key_problems(locale))
    own = spec.model_dump(mode="json")["templates"]
    for locale in dict.fromkeys(["en", "zh-CN", *spec.templates]):
        case = sample_case(spec, locale)
        for part in TEMPLATE_PARTS:
            problems.extend(_part_problems(spec, own, case, locale, part))
    return problems


def unsaved_campaign(spec: CampaignSpec) -> Campaign:
    """The campaign ``spec`` describes, as a row that is never stored: what a notice is
    rendered from before the campaign exists (checks, warnings)."""
    from pipeline.models import Campaign

    return Campaign(
        name=spec.name,
        reason=spec.reason.value,
        description=spec.description,
        remedy=spec.remedy,
        help_text=spec.help_text,
        deadline=spec.deadline,
        spec=spec.to_json(),
    )


def sample_case(spec: CampaignSpec, locale: str) -> Case:
    """A case of this campaign for a made-up recipient in ``locale`` (never stored)."""
    from pipeline.models import Case, Recipient

    recipient = Recipient(locale=locale, name="Alex Sample", timezone="UTC")
    return Case(id=1, campaign=unsaved_campaign(spec), recipient=recipient)


def _locale_key_problems(locale: str) -> Iterator[Problem]:
    from pipeline.campaigns.users import normalise_locale

    try:
        normalise_locale(locale)
    except ValueError as error:
        yield ("templates", locale), f"{error} (a template key is a locale)"


def _part_problems(
    spec: CampaignSpec, own: Mapping[str, Any], case: Case, locale: str, part: str
) -> list[Problem]:
    source = template_source(spec.reason.value, locale, part, own)
    is_own = campaign_part(own, locale, part) is not None
    if is_own and not part_given(own, locale, part):
        return []  # the campaign's wording for another key, checked under that key
    if not is_own and locale not in ("en", "zh-CN"):
        return []  # the built-in wording, checked for its own locale
    where: Location = ("templates", locale, part) if is_own else ("templates",)
    try:
        problems = _variable_problems(source, part) or _render_problems(source, case, part)
    except TemplateSyntaxError as error:
        problems = [f"line {error.lineno}: {error.message} (fix the Jinja2 syntax)"]
    if not problems and is_own and part in _POLICY_PARTS:
        problems = _policy_problems(source, case, part)
    return [(where, problem) for problem in problems]


def part_given(templates: Mapping[str, Any], locale: str, part: str) -> bool:
    parts = templates.get(locale)
    return isinstance(parts, Mapping) and bool(parts.get(part))


def allowed_variables(part: str) -> frozenset[str]:
    return part_variables(part)


_ENVIRONMENT = Environment(undefined=StrictUndefined)
_ENVIRONMENT.filters["sentence"] = sentence


def _variables(source: str) -> set[str]:
    return set(meta.find_undeclared_variables(_ENVIRONMENT.parse(source)))


def _variable_problems(source: str, part: str) -> list[str]:
    allowed = allowed_variables(part) | set(_ENVIRONMENT.globals)
    unknown = sorted(_variables(source) - allowed)
    names = ", ".join(sorted(allowed_variables(part)))
    return [f"unknown variable {name!r} (use one of: {names})" for name in unknown]


def render_context(case: Case, part: str) -> dict[str, Any]:
    context = case_context(case)
    if part.startswith("email"):
        context.update(response_links(case))
    if part == "agent_answer":
        context["text"] = "Yes, the replacement is free."
    return context


def _render_problems(source: str, case: Case, part: str) -> list[str]:
    try:
        render_source(source, render_context(case, part), html=part == "email_html")
    except UndefinedError as error:
        return [f"{error.message} (use one of: {', '.join(sorted(allowed_variables(part)))})"]
    except TemplateSyntaxError:
        raise
    except Exception as error:  # a template is the campaign author's code: any error is theirs
        return [f"cannot be rendered: {type(error).__name__}: {error} (fix the template)"]
    return []


def _policy_problems(source: str, case: Case, part: str) -> list[str]:
    used = _variables(source)
    vouched = {name.strip() for match in _STATES.findall(source) for name in match.split(",")}
    required = [name for name in STATEMENTS if not (part == "voice_machine" and name == "remedy")]
    missing = [
        STATEMENTS[name][1]
        for name in required
        if name not in vouched and not used & STATEMENTS[name][0]
    ]
    if "answer" not in vouched:
        text = render_source(source, render_context(case, part), html=part == "email_html")
        missing.extend(_answer_missing(part, used, text))
    if not missing:
        return []
    hint = " — or, if it says so in its own words, mark it with {# states: … #}"
    return [f"does not state {item}{hint}" for item in missing]


def _answer_missing(part: str, used: set[str], text: str) -> list[str]:
    if part.startswith("email"):
        absent = [name for name in EMAIL_ANSWERS if name not in used]
        shown = ", ".join("{{ " + name + " }}" for name in absent)
        return [f"how to answer (use {shown})"] if absent else []
    if part == "sms" and not (SMS_AGREE.search(text) and SMS_REFUSE.search(text)):
        return ["how to answer (say which reply agrees and which refuses, e.g. Reply YES or NO)"]
    if part == "voice" and not (re.search(r"\b1\b", text) and re.search(r"\b2\b", text)):
        return ["how to answer (say which key agrees and which refuses: Press 1 / Press 2)"]
    if part == "voice_machine" and "callback_number" not in used:
        return ["how to answer (give the number to call back: {{ callback_number }})"]
    return []
