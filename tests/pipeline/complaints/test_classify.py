from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.complaints.classify import (
    GENERAL,
    LEGAL,
    REGULATOR,
    complaint_type,
    is_dissatisfied,
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I want to make a complaint about this recall", GENERAL),
        ("I will COMPLAIN to everyone", GENERAL),
        ("My lawyer will hear about this", LEGAL),
        ("I am going to sue you", LEGAL),
        ("I will write to the regulator and the ombudsman", REGULATOR),
        ("我要投诉你们的召回", GENERAL),
        ("我已经联系了律师", LEGAL),
        ("我要起诉", LEGAL),
        ("我会向监管部门举报", REGULATOR),
        ("Ｃｏｍｐｌａｉｎｔ!", GENERAL),  # full-width letters
        ("a lawyer and a complaint", LEGAL),  # the most serious type wins
    ],
)
def test_complaints_in_both_languages(text: str, kind: str) -> None:
    assert complaint_type(text) == kind


@pytest.mark.parametrize(
    "text",
    ["When can I bring it in?", "Is there an issue with my model?", "请问在哪里更换电池？",
     "pursue the remedy", "courtesy call please"],
)  # fmt: skip
def test_plain_questions_are_not_complaints(text: str) -> None:
    assert complaint_type(text) is None


def test_dissatisfaction_in_both_languages() -> None:
    assert is_dissatisfied("I am not satisfied with the answer")
    assert is_dissatisfied("问题没有解决，我不满意")
    assert not is_dissatisfied("Thanks, all good")


@given(st.text())
def test_no_input_raises(text: str) -> None:
    assert complaint_type(text) in (None, LEGAL, REGULATOR, GENERAL)
    assert isinstance(is_dissatisfied(text), bool)
