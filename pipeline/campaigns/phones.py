"""``phonenumbers.parse`` and ``is_valid_number``, quicker, with exactly their results.

``parse``: most numbers in a users file are written internationally (``+44 7911 123456``).
For those, phonenumbers' general parse (scans for extensions, phone contexts, letters,
IDD prefixes, full-width digits) reduces to: drop the separators, find the country code,
strip a national prefix the way the metadata says. ``parse`` does just that for a ``+``
followed by ASCII digits, spaces and hyphens, with phonenumbers' own helpers for each
step, and hands anything else (and every error) to ``phonenumbers.parse``.

``is_valid``: ``phonenumbers.is_valid_number`` with its metadata compiled once per country
code.
A launch checks a million numbers. ``is_valid_number`` finds the region, then asks up to ten
number types whether they match, and for every one looks its pattern up in a regex cache,
reads the descriptor's attributes and checks its lengths; for a shared code (+1: 25 regions)
it does the region's work twice. That bookkeeping, not the matching, is most of its cost.

``is_valid`` decides exactly what ``phonenumbers.is_valid_number`` decides, step for step
(``region_code_for_number``, ``is_valid_number_for_region``, ``_number_type_helper``), from
the same metadata, with each descriptor turned once into (lengths, compiled pattern).
tests/pipeline/campaigns/test_phones.py checks both agree with phonenumbers on arbitrary
numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import phonenumbers
from phonenumbers import REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata, PhoneNumber
from phonenumbers.phonenumberutil import (
    _MAX_LENGTH_FOR_NSN,
    _MIN_LENGTH_FOR_NSN,
    COUNTRY_CODE_TO_REGION_CODE,
    ValidationResult,
    _extract_country_code,
    _maybe_strip_national_prefix_carrier_code,
    _set_italian_leading_zeros_for_phone_number,
    _test_number_length,
)

# (possible lengths, or None for "any"; the national number pattern, or None: never matches)
_Desc = tuple[frozenset[int] | None, re.Pattern[str] | None] | None
# The number types _number_type_helper tries before fixed line and mobile, in its order.
_OTHER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _desc(number_desc: Any) -> _Desc:
    """phonenumbers' _is_number_matching_desc, ahead of time."""
    if number_desc is None:
        return None
    lengths = frozenset(number_desc.possible_length) if number_desc.possible_length else None
    pattern = number_desc.national_number_pattern
    return lengths, (re.compile(pattern) if pattern else None)


def _has_type(metadata: Any) -> Callable[[str], bool]:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` for one region's metadata."""
    general_lengths, general_pattern = _desc(metadata.general_desc) or (None, None)
    others = [_desc(getattr(metadata, name)) for name in _OTHER_TYPES]
    fixed_line = _desc(metadata.fixed_line)
    # With the same pattern for both, phonenumbers never tries mobile on its own.
    mobile = None if metadata.same_mobile_and_fixed_line_pattern else _desc(metadata.mobile)
    typed = [*others, fixed_line, mobile]
    # Per length of number: the patterns left to try once the lengths are checked (None when
    # even the general description rules the length out), so a number costs a dict lookup
    # and a few full matches.
    by_length: dict[int, list[re.Pattern[str]] | None] = {}

    def candidates(length: int) -> list[re.Pattern[str]] | None:
        if general_pattern is None:
            return None
        if general_lengths is not None and length not in general_lengths:
            return None
        return [
            pattern
            for lengths, pattern in filter(None, typed)
            if pattern is not None and (lengths is None or length in lengths)
        ]

    def has_type(nsn: str) -> bool:
        length = len(nsn)
        if length not in by_length:
            by_length[length] = candidates(length)
        patterns = by_length[length]
        if patterns is None or general_pattern is None:
            return False
        # phonenumbers tests match() and then fullmatch(); a full match is also a match.
        if general_pattern.fullmatch(nsn) is None:
            return False
        return any(pattern.fullmatch(nsn) for pattern in patterns)

    return has_type


def _never(nsn: str) -> bool:
    return False


@cache  # a few hundred country codes at most
def _validator(country_code: int) -> Callable[[str], bool]:
    """Whether a national significant number is valid under ``country_code``."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return _never
    if len(regions) == 1:  # region_code_for_number takes the only region unchecked
        return _for_region(country_code, regions[0])
    # _region_code_for_number_from_list: the first region whose leading digits match, or
    # (without leading digits) whose types match; then that region's own check.
    steps: list[tuple[re.Pattern[str] | None, Callable[[str], bool]]] = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        digits = metadata.leading_digits
        leading = None if digits is None else re.compile(digits)
        steps.append((leading, _for_region(country_code, region)))

    def valid(nsn: str) -> bool:
        for leading, check in steps:
            if leading is not None:
                if leading.match(nsn):
                    return check(nsn)
            elif check(nsn):
                # The region found by its types; is_valid_number_for_region asks the
                # same question of the same metadata again, with the same answer.
                return True
        return False

    return valid


def _for_region(country_code: int, region: str) -> Callable[[str], bool]:
    """is_valid_number_for_region(number, region), given the number's country code."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None:
        return _never
    geographic = region != REGION_CODE_FOR_NON_GEO_ENTITY
    if geographic and country_code != phonenumbers.country_code_for_valid_region(region):
        return _never
    return _has_type(metadata)


def is_valid(number: PhoneNumber) -> bool:
    """Exactly ``phonenumbers.is_valid_number(number)``."""
    country_code = number.country_code
    if country_code is None:
        return phonenumbers.is_valid_number(number)  # not a parsed number: leave it to them
    nsn = phonenumbers.national_significant_number(number)
    return _validator(country_code)(nsn)


# "+", then ASCII digits, spaces and hyphens: nothing phonenumbers' parse would read as an
# extension, a second number, letters or a phone context, so only the digits matter.
_PLAIN_INTERNATIONAL = re.compile(r"\+[0-9][0-9 -]*")
_SEPARATORS = str.maketrans("", "", " -")
# Fewer digits after "+" and parse refuses the number (not viable, or too short after the
# plus): phonenumbers says how.
_MIN_DIGITS = max(3, _MIN_LENGTH_FOR_NSN + 1)
# A stripped national prefix that leaves a number of one of these lengths is put back.
_PREFIX_STAYS = frozenset(
    (
        ValidationResult.TOO_SHORT,
        ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
        ValidationResult.INVALID_LENGTH,
    )
)


def parse(raw: str, region: str) -> PhoneNumber:
    """Exactly ``phonenumbers.parse(raw, region)``: the same number, or the same exception."""
    # (Parsing with the non-geographic "region" 001 leaves national prefixes alone.)
    plain = region != REGION_CODE_FOR_NON_GEO_ENTITY and len(raw) <= 250
    if plain and _PLAIN_INTERNATIONAL.fullmatch(raw):
        number = _international(raw.translate(_SEPARATORS)[1:])
        if number is not None:
            return number
    return phonenumbers.parse(raw, region)


def _international(digits: str) -> PhoneNumber | None:
    """phonenumbers.parse's path for "+digits" that succeed; None for any other outcome."""
    if len(digits) < _MIN_DIGITS:
        return None
    country_code, national = _extract_country_code(digits)
    if country_code == 0:
        return None
    # The region whose metadata parse strips a national prefix with: the country code's main
    # region (the default region's own metadata when they are the same region).
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or len(national) < _MIN_LENGTH_FOR_NSN:
        return None
    _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
    if _test_number_length(stripped, metadata) not in _PREFIX_STAYS:
        national = stripped
    if not _MIN_LENGTH_FOR_NSN <= len(national) <= _MAX_LENGTH_FOR_NSN:
        return None
    number = PhoneNumber(country_code=country_code)
    _set_italian_leading_zeros_for_phone_number(national, number)
    number.national_number = int(national)
    return number
