"""RowValidator (columns found once, phonenumbers' steps without their bookkeeping) gives
exactly the verdicts of the plain row check it replaced: the same rows accepted, normalised
the same, and the same located errors in the same order."""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.campaigns.consent import ConsentRule, consent_rule
from pipeline.campaigns.users import (
    COLUMNS,
    RowValidator,
    UserRow,
    normalise_email,
    normalise_locale,
    normalise_tier,
    normalise_timezone,
)
from pipeline.errors import InputError

Verdict = UserRow | list[tuple[str | None, int | None, str | None, str]]


def _phonenumbers_e164(raw: str, region: str) -> str:
    """The users file's phone check as it was, with phonenumbers' own parse and validity."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(number):
        hint = "" if raw.startswith("+") else f" in region {region}"
        raise ValueError(f"not a valid phone number{hint}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def reference(
    path: str, header: list[str], region: str, consent: ConsentRule, line: int, record: list[str]
) -> Verdict:
    """The row check before issue 16, step for step."""
    index = {name: i for i, name in enumerate(header)}

    def get(column: str) -> str:
        i = index.get(column)
        return record[i].strip() if i is not None else ""

    def error(column: str | None, reason: str) -> InputError:
        return InputError(reason, path=path, line=line, field=column)

    if len(record) != len(header):
        return _plain([error(None, f"expected {len(header)} fields, found {len(record)}")])
    if any("\ufffd" in value for value in record):
        return _plain([error(None, "not valid UTF-8 text (save the file as UTF-8)")])
    if any("\x00" in value for value in record):
        return _plain([error(None, "contains a NUL byte (is it a text file?)")])
    errors: list[InputError] = []

    def check(column: str, normalise: Callable[[str], object]) -> object:
        try:
            return normalise(get(column))
        except ValueError as exc:
            errors.append(error(column, str(exc)))
            return None

    external_id = get("external_id")
    if not external_id:
        errors.append(error("external_id", "required"))
    elif len(external_id) > 128:
        errors.append(error("external_id", "longer than 128 characters"))
    name = get("name")
    if len(name) > 256:
        errors.append(error("name", "longer than 256 characters"))
    if not get("phone") and not get("email"):
        errors.append(error("phone", "phone or email is required (both are empty)"))
    phone = check("phone", lambda raw: _phonenumbers_e164(raw, region)) if get("phone") else None
    email = check("email", normalise_email) if get("email") else None
    locale = check("locale", normalise_locale)
    timezone = check("timezone", normalise_timezone)
    tier = check("risk_tier", normalise_tier)
    agreed = check("consent", consent.apply)
    if errors:
        return _plain(errors)
    return UserRow(line, external_id, name, phone, email, locale, timezone, tier, agreed)  # type: ignore[arg-type]


def _plain(errors: list[InputError]) -> list[tuple[str | None, int | None, str | None, str]]:
    return [(e.path, e.line, e.field, e.reason) for e in errors]


def _verdict(found: UserRow | list[InputError]) -> Verdict:
    return found if isinstance(found, UserRow) else _plain(found)


PHONES = st.one_of(
    st.text("+0123456789 -()", max_size=18),
    st.sampled_from(["+12122000000", "(415) 200-0001", "+86 138 0000 0000", "+44 7911 123456"]),
    st.builds("+{}{}".format, st.integers(1, 999), st.text("0123456789 ", max_size=14)),
    st.text(max_size=10),
)
FIELD = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "\x00", "\ufffd", "é"]))
VALUES = {
    "external_id": st.one_of(FIELD, st.text("ab", min_size=120, max_size=140)),
    "name": FIELD,
    "phone": PHONES,
    "email": st.one_of(FIELD, st.sampled_from(["a@example.com", "x.y@b.org", "bad@", "ü@ü.de"])),
    "locale": st.one_of(FIELD, st.sampled_from(["en", "zh_cn", "en-GB", "xx-1"])),
    "timezone": st.one_of(FIELD, st.sampled_from(["UTC", "Europe/London", "Mars/Base"])),
    "risk_tier": st.one_of(FIELD, st.sampled_from(["1", "2", "3", "4"])),
    "consent": st.one_of(FIELD, st.sampled_from(["yes", "no", "2024-01-01"])),
}


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[str], str, ConsentRule]:
    columns = draw(st.permutations(COLUMNS))
    header = list(columns[: draw(st.integers(3, len(columns)))])
    record = [draw(VALUES[name]) for name in header]
    if draw(st.booleans()) and draw(st.booleans()):  # now and then a ragged row
        record = record[: draw(st.integers(0, len(record)))] + draw(st.lists(FIELD, max_size=2))
    region = draw(st.sampled_from(["US", "GB", "CN", "DE", "IT", "001"]))
    consent = draw(st.sampled_from([ConsentRule(), consent_rule("other")]))
    return header, record, region, consent


@settings(max_examples=1500, deadline=None)
@given(files(), st.integers(2, 10**6))
def test_rows_get_the_verdicts_they_always_got(
    case: tuple[list[str], list[str], str, ConsentRule], line: int
) -> None:
    header, record, region, consent = case
    validator = RowValidator("users.csv", header, region, consent)
    found = _verdict(validator.validate(line, record))
    assert found == reference("users.csv", header, region, consent, line, record)
