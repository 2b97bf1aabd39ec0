from __future__ import annotations

import pytest

from channels.segments import Encoding, count_segments, segment_warning


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
