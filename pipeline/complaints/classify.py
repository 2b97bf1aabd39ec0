"""Is a question a complaint, and of which type? Keywords in English and Simplified Chinese.

The text is normalised like a reply (NFKC, casefold), so full-width letters and odd case
still match. English words match whole words (``sue`` is not in ``issue``); Chinese has no
spaces, so its keywords match anywhere. A type is the first that matches, most serious
first: a threat of legal action, then a report to a regulator, then a plain complaint.
"""

from __future__ import annotations

import re
import unicodedata

LEGAL = "legal"
REGULATOR = "regulator"
GENERAL = "general"
AGENT = "agent"  # classified by an agent, whatever the words
TYPES = (LEGAL, REGULATOR, GENERAL, AGENT)

_KEYWORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (English whole words or phrases, Chinese substrings)
    LEGAL: (
        ("lawyer", "lawyers", "attorney", "solicitor", "sue", "suing", "lawsuit", "legal action",
         "court"),
        ("律师", "起诉", "诉讼", "法院", "告你们"),
    ),
    REGULATOR: (
        ("regulator", "regulators", "ombudsman", "report you", "authorities"),
        ("举报", "监管", "消协", "消费者协会", "12315"),
    ),
    GENERAL: (
        ("complaint", "complaints", "complain", "complaining", "complained", "unacceptable",
         "outrageous", "disgrace"),
        ("投诉", "抱怨", "不满", "太差", "差评"),
    ),
}  # fmt: skip

_DISSATISFIED = (
    ("not satisfied", "unsatisfied", "dissatisfied", "not happy", "not resolved", "unresolved"),
    ("不满意", "没有解决", "没解决", "未解决"),
)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold()


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(word) for word in words)
    return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])")


_PATTERNS = {kind: (_pattern(en), zh) for kind, (en, zh) in _KEYWORDS.items()}
_DISSATISFIED_PATTERN = (_pattern(_DISSATISFIED[0]), _DISSATISFIED[1])


def _matches(normal: str, pattern: re.Pattern[str], chinese: tuple[str, ...]) -> bool:
    return bool(pattern.search(normal)) or any(word in normal for word in chinese)


def complaint_type(text: str) -> str | None:
    """The complaint type of a question's text, or None when it reads as a plain question."""
    normal = normalise(text)
    for kind, (pattern, chinese) in _PATTERNS.items():
        if _matches(normal, pattern, chinese):
            return kind
    return None


def is_dissatisfied(text: str) -> bool:
    """Does the person say the handling did not satisfy them (a reason to reopen)?"""
    return _matches(normalise(text), *_DISSATISFIED_PATTERN)
