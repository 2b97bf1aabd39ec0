"""Understanding a free-text reply: agree, refuse, query, opt-out, opt-in, help or unknown.

The keywords are the ones carriers and China's SMS rules oblige us to honour, in English and
Chinese. The rules, in the order they are tried:

1. Normalise: NFKC (full-width ``ＹＥＳ`` and ``？`` become ``YES`` and ``?``), then casefold.
2. Nothing but emoji, punctuation or spaces → ``unknown`` (we cannot tell what was meant).
3. The whole message, with every non-letter/digit removed, is one keyword → that keyword's
   kind. So ``"Yes!!"``, ``"y e s"``, ``"opt-out"``, ``"同意。"`` and ``"👍 OK"`` all count.
4. A *short* message (≤ 60 characters, ≤ 10 words) that *starts* with a keyword is classified
   by that keyword (``"Yes, please send the label"`` → agree), except:

   - a leading opt-out keyword always wins: someone who writes ``"STOP texting me"`` is never
     texted again, even if more words follow;
   - a question mark after the keyword makes it a ``query`` (``"Yes, but is it safe?"``): a
     person has to answer it;
   - a conflicting keyword later in the message makes it a ``query``
     (``"No problem, yes"``, ``"Yes... no"``): we would rather an agent read it than guess.

   A keyword "starts" the message only when it is a whole word: ``yes`` but not
   ``yesterday``; a lone letter or digit (``t``, ``y``, ``1``) counts only as the whole
   message, never as the first word of a sentence (``"T-shirt size?"``). Chinese has no
   spaces, so the multi-character keywords (``同意``, ``不同意``, ``拒绝``, ``退订``,
   ``帮助``) match as a prefix, longest first — ``不同意`` is
   refuse, never ``不`` + ``同意``. The single characters ``是``, ``好`` and ``不`` must be
   followed by a mood particle (``是的``, ``好的``, ``不了``), punctuation, a space or the
   end, so ``不好意思`` ("sorry") and ``是什么`` ("what is") are free text, not answers.
5. Anything else — a question, a sentence, a long message — is a ``query``.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class ReplyKind(StrEnum):
    AGREE = "agree"
    REFUSE = "refuse"
    QUERY = "query"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    UNKNOWN = "unknown"


K = ReplyKind

KEYWORDS: dict[str, ReplyKind] = {
    **dict.fromkeys(["yes", "y", "1", "ok", "同意", "是", "好"], K.AGREE),
    **dict.fromkeys(["no", "n", "2", "不同意", "拒绝", "不"], K.REFUSE),
    **dict.fromkeys(
        [
            "stop",
            "stopall",
            "unsubscribe",
            "cancel",
            "end",
            "quit",
            "revoke",
            "optout",
            "退订",
            "td",
            "t",
        ],
        K.OPT_OUT,
    ),
    **dict.fromkeys(["start", "unstop"], K.OPT_IN),
    **dict.fromkeys(["help", "info", "帮助"], K.HELP),
}

MAX_SHORT_CHARS = 60
MAX_SHORT_WORDS = 10
# Chinese keywords that may begin a message with no separator after them, longest first.
_CJK_PREFIXES = sorted((k for k in KEYWORDS if not k.isascii() and len(k) > 1), key=len)[::-1]
# Single characters too common inside other words to match without a boundary.
_CJK_SINGLES = {k for k in KEYWORDS if not k.isascii() and len(k) == 1}
# Mood particles that may follow a one-character answer: 是的, 好的, 好吧, 不了.
_PARTICLES = "的吧啊呀哦喔了啦嘛"
# Keywords that, found later in a message, contradict its leading keyword. Single letters
# and digits are left out: "y" or "2" inside a sentence says nothing.
_CONFLICT_WORDS = {k for k in KEYWORDS if len(k) > 1 or not k.isascii()} - _CJK_SINGLES
_LATIN_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """NFKC + casefold, applied twice because casefolding can un-normalise a few letters."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def _is_word_char(char: str) -> bool:
    return char.isalnum()


def compact(text: str) -> str:
    """Letters and digits only: what is left when punctuation, emoji and spaces go."""
    return "".join(char for char in text if _is_word_char(char))


def classify_reply(text: str) -> ReplyKind:
    """Classify one free-text reply (see the module docstring for the rules)."""
    normal = normalise(text)
    whole = compact(normal)
    if not whole:
        return K.UNKNOWN
    if whole in KEYWORDS:
        return KEYWORDS[whole]
    lead = _leading_keyword(normal)
    if lead is None or not _is_short(normal):
        return K.QUERY
    keyword, rest = lead
    kind = KEYWORDS[keyword]
    if kind is K.OPT_OUT:
        return kind
    if "?" in rest or _conflicts(kind, rest):
        return K.QUERY
    return kind


def _is_short(normal: str) -> bool:
    return len(normal) <= MAX_SHORT_CHARS and len(normal.split()) <= MAX_SHORT_WORDS


def _leading_keyword(normal: str) -> tuple[str, str] | None:
    """The keyword the message starts with and the text after it, if it starts with one."""
    start = 0
    while start < len(normal) and not _is_word_char(normal[start]):
        start += 1
    body = normal[start:]
    for prefix in _CJK_PREFIXES:
        if body.startswith(prefix):
            return prefix, body[len(prefix) :]
    if body[:1] in _CJK_SINGLES:
        rest = body[1:].lstrip(_PARTICLES)
        return (body[0], rest) if not rest[:1] or not _is_word_char(rest[0]) else None
    match = _LATIN_WORD.match(body)
    # A lone letter or digit ("t", "y", "1") counts only as the whole message: as the first
    # word of a sentence it is too often something else ("T-shirt", "1 more thing").
    if match is None or match.group() not in KEYWORDS or len(match.group()) < 2:
        return None
    rest = body[match.end() :]
    # "yes" must be a whole word: "yesterday" and "yes好" are not "yes".
    if rest[:1] and _is_word_char(rest[0]):
        return None
    return match.group(), rest


def _conflicts(kind: ReplyKind, rest: str) -> bool:
    """Does the rest of the message hold a keyword of another kind?"""
    words = set(_LATIN_WORD.findall(rest))
    cjk = {word for word in _CONFLICT_WORDS if not word.isascii() and word in rest}
    # "不同意" contains "同意": only the longest Chinese match counts.
    cjk = {word for word in cjk if not any(word != other and word in other for other in cjk)}
    found = (words & _CONFLICT_WORDS) | cjk
    return any(KEYWORDS[word] is not kind for word in found)


# A satisfaction score: the digit alone, or with "/5", "stars", "分" or "星" after it
# (``4``, ``５``, ``4/5``, ``5 stars``, ``4分``). Anything more is not a score.
_SCORE = re.compile(r"^([1-5])\s*(?:/\s*5|out of 5|stars?|分|星)?$")


def parse_score(text: str) -> int | None:
    """A 1-5 satisfaction score, or None. Only ever asked when a satisfaction question is
    pending for the case (``pipeline.satisfaction.ask``): on its own a ``1`` is an agreement."""
    normal = normalise(text).strip(" .!。！")
    match = _SCORE.match(normal)
    return int(match.group(1)) if match else None
