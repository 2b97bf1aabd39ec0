"""Classifying the reply that follows a refusal into one of the campaign's reasons.

- A number (``3``, ``#3``, ``３``, ``3.``) picks that reason from the numbered list.
- Free text is matched against the reasons' keywords, in English and Chinese, after the
  same normalisation as every reply (NFKC, casefold): a Latin keyword must be whole words
  (``cost`` not ``costume``), a Chinese one may sit anywhere in the text. Demands are tried
  first: someone who writes "no problem so far but I want a refund" must reach an agent.
- Anything else is ``other``, with the text kept for the agent.

Never raises: whatever arrives is a reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.inbound.replies import compact, normalise
from pipeline.refusals.catalogue import BUILT_IN, OTHER, RefusalReason


@dataclass(frozen=True)
class Classified:
    reason: RefusalReason
    by_number: bool


def chosen_number(text: str) -> int | None:
    """The number a reply consists of, if it is only a number (``#3``, ``3.``, ``３``)."""
    whole = compact(normalise(text))
    if whole.isascii() and whole.isdigit() and len(whole) <= 2:
        return int(whole)
    return None


def _mentions(normal: str, keyword: str) -> bool:
    word = normalise(keyword)
    if not word:
        return False
    if word.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", normal) is not None
    return word in normal


def keyword_reason(text: str, reasons: Sequence[RefusalReason]) -> RefusalReason | None:
    """The first reason (demands first, then in list order) whose keyword the text holds."""
    normal = normalise(text)
    ordered = [r for r in reasons if r.demand] + [r for r in reasons if not r.demand]
    for reason in ordered:
        if any(_mentions(normal, keyword) for keyword in reason.keywords):
            return reason
    return None


def classify_refusal(text: str, reasons: Sequence[RefusalReason]) -> Classified:
    """The reason a reply after a refusal gives (see the module docstring)."""
    number = chosen_number(text)
    if number is not None and 1 <= number <= len(reasons):
        return Classified(reasons[number - 1], True)
    found = keyword_reason(text, reasons)
    if found is not None:
        return Classified(found, False)
    other = next((r for r in reasons if r.code == OTHER), BUILT_IN[OTHER])
    return Classified(other, False)
