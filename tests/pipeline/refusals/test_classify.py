"""Refusal reasons: the catalogue, the campaign's own list, and classifying a reply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.campaigns.file import parse_campaign
from pipeline.errors import InputError, InputErrors
from pipeline.refusals.catalogue import (
    BUILT_IN,
    DEFAULTS,
    OTHER,
    campaign_reasons,
    choices_text,
    default_reasons,
)
from pipeline.refusals.classify import classify_refusal
from tests.pipeline.campaigns.test_campaign_file import NOW, VALID

PRODUCT = default_reasons("product_quality")


@pytest.mark.parametrize("recall_reason", sorted(DEFAULTS))
def test_every_recall_reason_has_labelled_defaults_ending_with_other(recall_reason: str) -> None:
    reasons = default_reasons(recall_reason)
    assert reasons[-1].code == OTHER and 3 <= len(reasons) <= 9
    assert any(r.demand for r in reasons)
    for reason in reasons:
        assert reason.label("en") and reason.label("zh-CN") != reason.label("en")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("4", "want_other_remedy"),
        ("#5", "want_compensation"),
        ("５", "want_compensation"),  # full width
        ("1.", "not_affected"),
        ("I want a refund", "want_compensation"),
        ("Mine has had no problem at all", "not_affected"),
        ("too much hassle, no time", "inconvenient"),
        ("can you send me a replacement instead", "want_other_remedy"),
        ("我要求赔偿", "want_compensation"),
        ("太麻烦了，没时间", "inconvenient"),
        ("我想换新的", "want_other_remedy"),
        ("我的用着没问题", "not_affected"),
        ("不信任你们的方案", "distrust"),
        # A demand wins over a reason named earlier: it must reach an agent.
        ("no problem so far but I want my money back", "want_compensation"),
        ("just because", OTHER),
        ("7", OTHER),  # not on the list
        ("costume party", OTHER),  # "cost" is not a word in it
    ],
)
def test_replies_are_classified_in_both_languages(text: str, code: str) -> None:
    assert classify_refusal(text, PRODUCT).reason.code == code


@given(st.integers(min_value=1, max_value=len(PRODUCT)))
def test_a_number_picks_that_reason(number: int) -> None:
    result = classify_refusal(f" {number} ", PRODUCT)
    assert result.reason == PRODUCT[number - 1] and result.by_number


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_and_is_a_listed_reason(text: str) -> None:
    assert classify_refusal(text, PRODUCT).reason in PRODUCT


def test_choices_are_numbered_in_the_persons_language() -> None:
    assert choices_text(PRODUCT, "en").startswith("1 I am not affected; 2 ")
    assert choices_text(PRODUCT, "zh-CN").startswith("1 我没有受影响；2 ")


OWN = (
    VALID
    + """\
refusal_reasons:
  - code: want_compensation
  - code: dealer_too_far
    label: {en: "The dealer is too far away", zh-CN: "经销商太远"}
    keywords: [dealer, 经销商]
"""
)


def test_a_campaigns_own_reasons_replace_the_defaults() -> None:
    spec = parse_campaign(OWN, source="c.yaml", now=NOW).to_json()
    reasons = campaign_reasons("product_quality", spec)
    assert [r.code for r in reasons] == ["want_compensation", "dealer_too_far", OTHER]
    assert reasons[0].demand and reasons[0].labels == BUILT_IN["want_compensation"].labels
    assert classify_refusal("the dealer is miles away", reasons).reason.code == "dealer_too_far"
    assert classify_refusal("离经销商太远", reasons).reason.code == "dealer_too_far"
    assert classify_refusal("2", reasons).reason.code == "dealer_too_far"


@pytest.mark.parametrize(
    ("entries", "field", "words"),
    [
        ("  - code: my_reason\n", "refusal_reasons[0]", "give it a label"),
        ("  - code: Bad Code\n", "refusal_reasons[0].code", "pattern"),
        ("  - {code: other}\n  - {code: other}\n", "refusal_reasons", "listed twice"),
        ("".join(f"  - code: r{n}\n    label: {{en: x}}\n" for n in range(10)),
         "refusal_reasons", "at most 9"),
        ("  - {code: other, label: {fr: autre}}\n", "refusal_reasons[0]", "unknown locale"),
    ],
)  # fmt: skip
def test_bad_refusal_reasons_are_located(entries: str, field: str, words: str) -> None:
    with pytest.raises((InputErrors, InputError)) as caught:
        parse_campaign(VALID + "refusal_reasons:\n" + entries, source="c.yaml", now=NOW)
    error = caught.value
    [found] = error.errors if isinstance(error, InputErrors) else [error]
    assert found.field == field and words in str(found) and found.line is not None
