"""The refusal reasons a follow-up offers: built-in ones, defaults per recall reason, and a
campaign's own list (``refusal_reasons`` in the campaign file).

A reason is a code, a label per language (``en`` and ``zh-CN``), keywords that recognise it
in free text, and whether it is a *demand* — something the person asks of us (compensation,
another remedy) that the policy sends back to the recall team, so it opens an inbox item.
``other`` is always the last choice: free text that names no reason is kept under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OTHER = "other"
MAX_REASONS = 9  # one digit each, so "3" is never ambiguous


@dataclass(frozen=True)
class RefusalReason:
    code: str
    labels: Mapping[str, str]
    keywords: tuple[str, ...] = ()
    demand: bool = False

    def label(self, locale: str) -> str:
        return self.labels.get(locale) or self.labels.get("en") or self.code


def _reason(code: str, en: str, zh: str, keywords: str, *, demand: bool = False) -> RefusalReason:
    return RefusalReason(code, {"en": en, "zh-CN": zh}, tuple(keywords.split("|")), demand)


BUILT_IN: dict[str, RefusalReason] = {
    r.code: r
    for r in (
        _reason(
            "not_affected",
            "I am not affected",
            "我没有受影响",
            "not affected|no problem|works fine|working fine|never had"
            "|没问题|没有问题|不受影响|没有受影响|正常",
        ),
        _reason(
            "inconvenient",
            "It is too much trouble",
            "太麻烦",
            "inconvenient|no time|too far|too busy|hassle|trouble|麻烦|没时间|太远|不方便",
        ),
        _reason(
            "too_costly",
            "It costs me too much",
            "费用太高",
            "cost|costs|expensive|price|too much money|贵|费用|花钱",
        ),
        _reason(
            "distrust",
            "I do not trust the fix",
            "我不信任这个方案",
            "trust|don't believe|do not believe|worse|不信任|不相信|担心",
        ),
        _reason(
            "already_done", "I already did it", "我已经处理了", "already|已经处理|已经做了|已处理"
        ),
        _reason(
            "no_longer_have",
            "I no longer have it",
            "我已经不用了",
            "sold|threw|no longer|don't have|do not have|gave away|卖了|扔了|不用了|没有了",
        ),
        _reason(
            "disagree_rule",
            "I do not accept the change",
            "我不接受这个变更",
            "unfair|disagree|don't accept|do not accept|不合理|不公平|不接受",
        ),
        _reason(
            "want_compensation",
            "I want compensation or a refund",
            "我要求赔偿或退款",
            "compensation|compensate|refund|money back|reimburse|赔偿|补偿|退款|退钱",
            demand=True,
        ),
        _reason(
            "want_other_remedy",
            "I want a different remedy",
            "我要求其他处理方式",
            "replace|replacement|new one|exchange|different remedy|repair|换新|更换|调换|维修",
            demand=True,
        ),
        _reason(OTHER, "Something else", "其他原因", ""),
    )
}

DEFAULTS: dict[str, tuple[str, ...]] = {
    "product_quality": (
        "not_affected", "inconvenient", "distrust", "want_other_remedy", "want_compensation",
    ),
    "rule_change": ("disagree_rule", "too_costly", "inconvenient", "want_compensation"),
    "security_incident": ("not_affected", "already_done", "inconvenient", "want_compensation"),
    "regulatory": ("disagree_rule", "inconvenient", "not_affected", "want_compensation"),
    "other": ("not_affected", "inconvenient", "want_other_remedy", "want_compensation"),
}  # fmt: skip


def default_reasons(recall_reason: str) -> list[RefusalReason]:
    """The built-in choices for a campaign of ``recall_reason``, ``other`` last."""
    codes = DEFAULTS.get(recall_reason, DEFAULTS["other"])
    return [BUILT_IN[code] for code in codes] + [BUILT_IN[OTHER]]


def from_spec(entry: Mapping[str, Any]) -> RefusalReason:
    """One entry of the campaign file's ``refusal_reasons`` (as stored in ``Campaign.spec``):
    a built-in code takes its labels and keywords from here unless the entry gives its own."""
    code = str(entry["code"])
    base = BUILT_IN.get(code)
    labels = dict(base.labels) if base else {}
    labels.update({str(k): str(v) for k, v in (entry.get("label") or {}).items() if v})
    keywords = tuple(str(k) for k in entry.get("keywords") or ()) + (base.keywords if base else ())
    demand = entry.get("demand")
    return RefusalReason(
        code, labels, keywords, bool(demand) if demand is not None else bool(base and base.demand)
    )


def campaign_reasons(recall_reason: str, spec: Mapping[str, Any] | None) -> list[RefusalReason]:
    """The campaign's own list when its file has one, else the defaults; ``other`` is
    appended when the list does not end with it."""
    entries: Sequence[Mapping[str, Any]] | None = (spec or {}).get("refusal_reasons")
    if not entries:
        return default_reasons(recall_reason)
    reasons = [from_spec(entry) for entry in entries]
    if OTHER not in (r.code for r in reasons):
        reasons.append(BUILT_IN[OTHER])
    return reasons


def choices_text(reasons: Sequence[RefusalReason], locale: str) -> str:
    """The numbered list a refusal follow-up offers: ``1 I am not affected; 2 …``."""
    separator = "；" if locale == "zh-CN" else "; "
    return separator.join(f"{n} {r.label(locale)}" for n, r in enumerate(reasons, start=1))
