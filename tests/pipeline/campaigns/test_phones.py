"""The compiled validity check agrees with phonenumbers.is_valid_number on any number."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from pipeline.campaigns.phones import is_valid, parse
from pipeline.campaigns.users import validated_e164

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
CODES = sorted(COUNTRY_CODE_TO_REGION_CODE)


def _agree(raw: str, region: str) -> None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return
    assert is_valid(number) == phonenumbers.is_valid_number(number), (raw, region)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(CODES), st.text("0123456789", min_size=1, max_size=17))
def test_agrees_on_every_country_code(code: int, digits: str) -> None:
    _agree(f"+{code}{digits}", "US")


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(REGIONS), st.text("0123456789 ()-+.x#", min_size=1, max_size=20))
def test_agrees_on_national_and_formatted_numbers(region: str, raw: str) -> None:
    _agree(raw, region)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=24))
def test_agrees_on_any_text(raw: str) -> None:
    _agree(raw, "GB")


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(REGIONS), st.integers(0, 10**15))
def test_agrees_on_real_looking_numbers(region: str, national: int) -> None:
    # Example numbers of each region and type are valid; nearby ones are often not.
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        assert is_valid(example) == phonenumbers.is_valid_number(example)
        nsn = str(example.national_number)
        nearby = nsn[: max(len(nsn) - len(str(national)), 1)] + str(national)
        _agree(f"+{example.country_code}{nearby[: len(nsn)]}", region)


def test_users_file_verdicts_unchanged() -> None:
    assert validated_e164("+1 212 200 0000", "US") == "+12122000000"
    assert validated_e164("(415) 200-0001", "US") == "+14152000001"
    assert validated_e164("+44 7911 123456", "US") == "+447911123456"
    assert validated_e164("+1 268 464 1234", "US") == "+12684641234"  # Antigua, shares +1


def _same_parse(raw: str, region: str) -> None:
    try:
        expected: phonenumbers.PhoneNumber | str = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        expected = f"{error.error_type}: {error}"
    try:
        found: phonenumbers.PhoneNumber | str = parse(raw, region)
    except phonenumbers.NumberParseException as error:
        found = f"{error.error_type}: {error}"
    assert found == expected, (raw, region)


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(CODES),
    st.text("0123456789 -", max_size=20),
    st.sampled_from([*REGIONS, "001", "ZZ"]),
)
def test_parse_agrees_on_international_numbers(code: int, rest: str, region: str) -> None:
    _same_parse(f"+{code}{rest}", region)


@settings(max_examples=2000, deadline=None)
@given(st.text("+0123456789 -", max_size=22), st.sampled_from(REGIONS))
def test_parse_agrees_on_plain_digit_strings(raw: str, region: str) -> None:
    _same_parse(raw, region)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=24), st.sampled_from(REGIONS))
def test_parse_agrees_on_any_text(raw: str, region: str) -> None:
    _same_parse(raw, region)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(REGIONS))
def test_parse_agrees_on_example_numbers_with_national_prefix(region: str) -> None:
    # +CC then the national prefix (a trunk 0 and the like): parse strips it or keeps it.
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        nsn = phonenumbers.national_significant_number(example)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        prefix = (metadata.national_prefix if metadata else None) or "0"
        for raw in (f"+{example.country_code}{nsn}", f"+{example.country_code} {prefix}{nsn}"):
            _same_parse(raw, region)
