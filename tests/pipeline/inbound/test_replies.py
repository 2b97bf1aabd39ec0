"""Reply classification: the keyword table, the leading-keyword rule and its exceptions."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.inbound.replies import KEYWORDS, ReplyKind, classify_reply

K = ReplyKind

CASES = [
    # Every listed keyword on its own.
    *[(word, kind) for word, kind in KEYWORDS.items()],
    # Case, width, punctuation and emoji.
    ("YES", K.AGREE),
    ("yes!!!", K.AGREE),
    ("ＹＥＳ", K.AGREE),
    ("Ｙｅｓ！", K.AGREE),
    ("  ok 👍 ", K.AGREE),
    ("O.K.", K.AGREE),
    ("１", K.AGREE),
    ("２。", K.REFUSE),
    ("同意。", K.AGREE),
    ("是的", K.AGREE),
    ("好的，谢谢", K.AGREE),
    ("不了", K.REFUSE),
    ("不，谢谢", K.REFUSE),
    ("Stop.", K.OPT_OUT),
    ("opt-out", K.OPT_OUT),
    ("Opt Out", K.OPT_OUT),
    ("ＴＤ", K.OPT_OUT),
    ("退订！", K.OPT_OUT),
    ("UnStop", K.OPT_IN),
    ("help?", K.HELP),
    ("帮助", K.HELP),
    # Leading keyword in a short reply.
    ("Yes, please send the label", K.AGREE),
    ("No thanks, I'll keep it", K.REFUSE),
    ("STOP texting me", K.OPT_OUT),
    ("Stop, no more of this", K.OPT_OUT),
    ("Help me with this", K.HELP),
    ("Start again please", K.OPT_IN),
    ("同意，请寄标签", K.AGREE),
    ("不同意，因为太麻烦", K.REFUSE),
    ("拒绝", K.REFUSE),
    ("退订谢谢", K.OPT_OUT),
    # "不同意" is refuse, never 不 + 同意; "不好意思" is not 不.
    ("不同意", K.REFUSE),
    ("不好意思，请问怎么退货", K.QUERY),
    ("是什么问题", K.QUERY),
    # Ambiguities go to a person.
    ("No problem, yes", K.QUERY),
    ("Yes... no", K.QUERY),
    ("Yes, but is it safe?", K.QUERY),
    ("同意吗？", K.QUERY),
    ("同意，不同意", K.QUERY),
    # Whole words only; lone letters only as the whole message.
    ("yesterday I returned it", K.QUERY),
    ("Nobody told me", K.QUERY),
    ("T-shirt size?", K.QUERY),
    ("1 more thing", K.QUERY),
    ("Endless waiting", K.QUERY),
    # Questions and free text.
    ("Is my device affected?", K.QUERY),
    ("What do I need to do", K.QUERY),
    ("3", K.QUERY),
    ("这个召回是什么意思", K.QUERY),
    ("咨询：我去年买的也受影响吗？", K.QUERY),
    ("Does this apply to the one I bought last year?", K.QUERY),
    ("Yes " + "really " * 12, K.QUERY),  # long: not a short reply
    # Nothing to read.
    ("", K.UNKNOWN),
    ("   ", K.UNKNOWN),
    ("👍", K.UNKNOWN),
    ("?!...", K.UNKNOWN),
    ("😀🎉", K.UNKNOWN),
    ("？？", K.UNKNOWN),
]


@pytest.mark.parametrize(("text", "kind"), CASES)
def test_classifies(text: str, kind: ReplyKind) -> None:
    assert classify_reply(text) is kind


@given(st.text())
def test_never_crashes_and_is_deterministic(text: str) -> None:
    first = classify_reply(text)
    assert isinstance(first, ReplyKind)
    assert classify_reply(text) is first


@given(st.text())
def test_nfkc_invariant(text: str) -> None:
    assert classify_reply(unicodedata.normalize("NFKC", text)) is classify_reply(text)


keyword = st.sampled_from(sorted(KEYWORDS))
decoration = st.sampled_from(["", " ", "!", "。", "...", " 👍", "！", "\t"])


@given(keyword, decoration, decoration, st.sampled_from([str.upper, str.lower, str.title]))
def test_keyword_alone_is_case_and_decoration_invariant(
    word: str, before: str, after: str, case: object
) -> None:
    text = before + case(word) + after  # type: ignore[operator]
    assert classify_reply(text) is KEYWORDS[word]


@given(st.from_regex(r"[A-Za-z ,.!]{0,40}", fullmatch=True))
def test_case_invariant(text: str) -> None:
    assert classify_reply(text.upper()) is classify_reply(text.lower())


punctuation = st.characters(categories=["P", "Z"])
emoji = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF, categories=["So"])


@given(st.text(alphabet=punctuation | emoji))
def test_punctuation_emoji_and_spaces_are_unknown(text: str) -> None:
    assert classify_reply(text) is K.UNKNOWN
