"""SMS segment counting, as carriers bill it.

A message is GSM-7 when every character is in the GSM 03.38 basic set or its extension table
(extension characters take two septets: an escape plus the character). Any other character —
a Chinese character, an emoji, a curly quote — turns the *whole* message into UCS-2.
A single message holds 160 GSM-7 septets or 70 UCS-2 code units; once it needs more, each
segment loses room to the concatenation header and holds 153 or 67. A character is never
split across two segments, which is why the count packs greedily instead of dividing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Past this many segments a notice gets expensive and some handsets show it badly.
SEGMENT_WARNING_LIMIT = 3


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    segments: int
    chars: int  # characters in the text
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2): what the limits count


_LIMITS = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


def _is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_sizes(text: str, encoding: Encoding) -> list[int]:
    if encoding is Encoding.GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # Characters beyond the Basic Multilingual Plane (most emoji) are surrogate pairs.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(sizes: list[int], per_segment: int) -> int:
    segments, used = 1, 0
    for size in sizes:
        if used + size > per_segment:
            segments, used = segments + 1, 0
        used += size
    return segments


def count_segments(text: str) -> SegmentCount:
    """How many SMS segments ``text`` costs, and in which encoding. Empty text is one."""
    encoding = Encoding.GSM7 if _is_gsm7(text) else Encoding.UCS2
    sizes = _unit_sizes(text, encoding)
    single, multi = _LIMITS[encoding]
    units = sum(sizes)
    segments = 1 if units <= single else _pack(sizes, multi)
    return SegmentCount(encoding=encoding, segments=segments, chars=len(text), units=units)


def segment_warning(text: str, limit: int = SEGMENT_WARNING_LIMIT) -> str | None:
    """A one-line warning when ``text`` runs past ``limit`` segments, else None."""
    count = count_segments(text)
    if count.segments <= limit:
        return None
    return (
        f"SMS runs to {count.segments} segments ({count.units} {count.encoding} units,"
        f" over the {limit}-segment limit); shorten it"
        + (" or avoid non-GSM characters" if count.encoding is Encoding.UCS2 else "")
    )
