from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from channels.segments import GSM7_BASIC, Encoding, count_segments, segment_warning


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", Encoding.GSM7, 1, 0),
        ("a" * 160, Encoding.GSM7, 1, 160),
        ("a" * 161, Encoding.GSM7, 2, 161),
        ("a" * 306, Encoding.GSM7, 2, 306),
        ("a" * 307, Encoding.GSM7, 3, 307),
        ("Grüße: é à ñ ß Ø £ Ü ö", Encoding.GSM7, 1, 22),
        # Extension characters take two septets each.
        ("€" * 80, Encoding.GSM7, 1, 160),
        ("€" * 81, Encoding.GSM7, 2, 162),
        ("[]{}~|^\\", Encoding.GSM7, 1, 16),
        ("产" * 70, Encoding.UCS2, 1, 70),
        ("产" * 71, Encoding.UCS2, 2, 71),
        ("产" * 134, Encoding.UCS2, 2, 134),
        ("产" * 135, Encoding.UCS2, 3, 135),
        # One non-GSM character makes the whole message UCS-2.
        ("a" * 69 + "’", Encoding.UCS2, 1, 70),
        ("a" * 70 + "’", Encoding.UCS2, 2, 71),
        # An emoji is a surrogate pair: two units.
        ("😀" * 35, Encoding.UCS2, 1, 70),
    ],
)
def test_count_segments(text: str, encoding: Encoding, segments: int, units: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments, count.units) == (encoding, segments, units)
    assert count.chars == len(text)


def test_extension_character_never_straddles_a_segment() -> None:
    # 152 plain septets then an escape pair: the pair cannot start at 153, so it moves on.
    text = "a" * 152 + "€" + "a" * 10
    assert count_segments(text).segments == 2
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text).units == 306
    assert count_segments(text).segments == 3


def test_surrogate_pair_never_straddles_a_segment() -> None:
    text = "产" * 66 + "😀" + "产" * 3
    assert count_segments(text).segments == 2
    assert count_segments("产" * 66 + "😀" + "产" * 66).segments == 3


def test_three_segment_warning() -> None:
    assert segment_warning("a" * 459) is None  # exactly three GSM-7 segments
    warning = segment_warning("a" * 460)
    assert warning is not None and "4 segments" in warning
    assert segment_warning("产" * 201) is None
    chinese = segment_warning("产" * 202)
    assert chinese is not None and "UCS-2" in chinese
    assert segment_warning("a" * 200, limit=1) is not None


@given(st.text(alphabet=sorted(GSM7_BASIC), max_size=1200))
def test_plain_gsm7_matches_the_carrier_formula(text: str) -> None:
    count = count_segments(text)
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert (count.encoding, count.segments, count.units) == (Encoding.GSM7, expected, len(text))


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=600))
def test_plain_ucs2_matches_the_carrier_formula(text: str) -> None:
    count = count_segments(text)
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    assert count.segments == expected
    assert count.encoding is (Encoding.UCS2 if text else Encoding.GSM7)


@given(st.text(max_size=800))
@example("a" * 152 + "€" + "a" * 152)  # a wasted septet: 306 units need 3 segments
@example("产" * 66 + "😀" + "产" * 66)
def test_segments_always_hold_the_units(text: str) -> None:
    count = count_segments(text)
    single, multi = (160, 153) if count.encoding is Encoding.GSM7 else (70, 67)
    if count.units <= single:
        assert count.segments == 1
    else:
        # A two-unit character that does not fit wastes at most one unit per full segment.
        assert (count.segments - 1) * (multi - 1) < count.units <= count.segments * multi
