"""USERS.csv: read, validate and normalise the people a campaign must reach.

The file is streamed (a million rows never sit in memory at once). Every bad row is
reported with its line, column and reason in one pass, so a person fixes the file once.
Columns: ``external_id,name,phone,email,locale,timezone,risk_tier`` and ``consent``; only
``external_id`` and one of ``phone``/``email`` are required (``consent`` too, for a campaign
whose reason is ``other``: see ``pipeline.campaigns.consent``); UTF-8 with or without a
byte-order mark.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from pipeline.campaigns.consent import ConsentRule
from pipeline.campaigns.phones import is_valid
from pipeline.campaigns.phones import parse as parse_phone
from pipeline.errors import InputError, InputErrors

COLUMNS = ("external_id", "name", "phone", "email", "locale", "timezone", "risk_tier", "consent")
DEFAULT_LOCALE = "en"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_TIER = 2
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))*$")
# RFC 5322 dot-atom in ASCII: every such local part is one email-validator accepts as is.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_LOCAL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")


class UserRow(NamedTuple):
    """One valid, normalised row. ``line`` is where it starts in the file."""

    line: int
    external_id: str
    name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str
    risk_tier: int
    consent: str | None = None


@dataclass
class ImportReport:
    """What a validation pass found."""

    path: Path
    valid: int = 0
    errors: list[InputError] = field(default_factory=list)
    bad_lines: int = 0
    rejects_path: Path | None = None


def rejects_path_for(path: Path) -> Path:
    """``users.csv`` → ``users.rejects.csv``, next to it."""
    return path.with_name(f"{path.stem}.rejects.csv")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str:
    """email-validator's verdict on a domain, once per distinct domain (raises if invalid)."""
    return validate_email(f"a@{domain}", check_deliverability=False).domain


def normalise_email(raw: str) -> str:
    """A normalised address, or ValueError. No DNS lookups.

    Addresses with a plain ASCII local part (nearly all) only have their domain checked by
    email-validator, cached per domain: a million users share a few thousand domains.
    Anything unusual goes through email-validator whole.
    """
    local, at, domain = raw.rpartition("@")
    try:
        if at and len(local) <= 64 and len(raw) <= 254 and _SIMPLE_LOCAL.match(local):
            return f"{local}@{_domain(domain)}"
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address ({error})") from None


def validated_e164(raw: str, default_region: str) -> str:
    """A users file's phone as E.164 (``+447911123456``); ValueError unless it is a valid
    number (strict: a bad number in the file is the operator's to fix, never stored).
    Compare ``pipeline.inbound.answers.sender_e164``, which never refuses a sender."""
    try:
        number = parse_phone(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"not a phone number ({error})") from None
    if not is_valid(number):
        hint = "" if raw.startswith("+") else f" in region {default_region}"
        raise ValueError(f"not a valid phone number{hint}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1024)  # a file holds a handful of distinct locales
def normalise_locale(raw: str) -> str:
    """``zh_cn`` → ``zh-CN``; empty → ``en``."""
    if not raw:
        return DEFAULT_LOCALE
    match = _LOCALE.match(raw)
    if match is None or len(raw) > 16:  # recipient.locale holds 16 characters
        raise ValueError("not a locale; write it like en, en-GB or zh-CN")
    language, *rest = re.split(r"[-_]", raw)
    parts = [language.lower()]
    for part in rest:
        parts.append(part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part)
    return "-".join(parts)


def normalise_timezone(raw: str) -> str:
    if not raw:
        return DEFAULT_TIMEZONE
    if raw not in _timezones():
        raise ValueError("not an IANA time zone; write it like Europe/London or Asia/Shanghai")
    return raw


def normalise_tier(raw: str) -> int:
    if not raw:
        return DEFAULT_TIER
    if raw not in ("1", "2", "3"):
        raise ValueError("risk tier must be 1 (high), 2 (normal) or 3 (low)")
    return int(raw)


class RowValidator:
    """Turns one CSV record into a UserRow or a list of what is wrong with it."""

    def __init__(
        self,
        path: str,
        header: list[str],
        default_region: str,
        consent: ConsentRule | None = None,
    ) -> None:
        self.path = path
        self.index = {name: i for i, name in enumerate(header)}
        self._positions = [self.index.get(column) for column in COLUMNS]
        self.width = len(header)
        self.default_region = default_region
        self.consent = consent or ConsentRule()

    def validate(self, line: int, record: list[str]) -> UserRow | list[InputError]:
        # Called a million times on a launch: the columns are found once (in __init__), and
        # error objects are made only for rows that have errors.
        if len(record) != self.width:
            return [self._error(line, None, f"expected {self.width} fields, found {len(record)}")]
        text = "".join(record)  # a character is in some field iff it is in them all joined
        if "\ufffd" in text:
            return [self._error(line, None, "not valid UTF-8 text (save the file as UTF-8)")]
        if "\x00" in text:
            return [self._error(line, None, "contains a NUL byte (is it a text file?)")]
        external_id, name, raw_phone, raw_email, locale, zone, tier, consent = (
            record[i].strip() if i is not None else "" for i in self._positions
        )
        problems: list[tuple[str, str]] = []  # (column, reason), in the order checked
        if not external_id:
            problems.append(("external_id", "required"))
        elif len(external_id) > 128:
            problems.append(("external_id", "longer than 128 characters"))
        if len(name) > 256:
            problems.append(("name", "longer than 256 characters"))
        if not raw_phone and not raw_email:
            problems.append(("phone", "phone or email is required (both are empty)"))
        phone = _checked(problems, "phone", self._phone, raw_phone) if raw_phone else None
        email = _checked(problems, "email", normalise_email, raw_email) if raw_email else None
        values = (
            _checked(problems, "locale", normalise_locale, locale),
            _checked(problems, "timezone", normalise_timezone, zone),
            _checked(problems, "risk_tier", normalise_tier, tier),
            _checked(problems, "consent", self.consent.apply, consent),
        )
        if problems:
            return [self._error(line, column, reason) for column, reason in problems]
        return UserRow(line, external_id, name, phone, email, *values)  # type: ignore[arg-type]

    def _error(self, line: int, column: str | None, reason: str) -> InputError:
        return InputError(reason, path=self.path, line=line, field=column)

    def _phone(self, raw: str) -> str:
        return validated_e164(raw, self.default_region)


def _checked(
    problems: list[tuple[str, str]], column: str, normalise: Callable[[str], Any], raw: str
) -> Any:
    """``normalise(raw)``, or None with the reason it gave noted against ``column``."""
    try:
        return normalise(raw)
    except ValueError as error:
        problems.append((column, str(error)))
        return None


def read_header(path: str, reader: Iterator[list[str]]) -> list[str]:
    """The users file's lower-cased column names, or every problem with them (line 1)."""
    return read_csv_header(
        path, reader, COLUMNS, required=("external_id",), one_of=("phone", "email")
    )


def read_csv_header(
    path: str,
    reader: Iterator[list[str]],
    columns: Sequence[str],
    *,
    required: Sequence[str],
    one_of: Sequence[str] = (),
) -> list[str]:
    """A CSV's lower-cased column names, checked against ``columns`` (the known ones),
    ``required`` and ``one_of`` (at least one needed); every problem located on line 1."""
    try:
        header = [name.strip().lower() for name in next(csv_records(path, reader))]
    except StopIteration:
        raise InputError("the file is empty; expected a header row", path=path, line=1) from None
    problems = []
    unknown = [name for name in header if name not in columns]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(columns)}")
    problems += [f"the {name} column is required" for name in required if name not in header]
    if one_of and not any(name in header for name in one_of):
        problems.append(f"a {' or an '.join(one_of)} column is required")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        problems.append(f"column(s) named twice: {', '.join(duplicated)}")
    if problems:
        raise InputErrors([InputError(p, path=path, line=1, field="header") for p in problems])
    return header


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def check_users_path(path: Path) -> None:
    """Raise a located InputError unless ``path`` is a readable file (before any work)."""
    if path.is_dir():
        raise InputError("is a folder (give the users file's path)", path=str(path))
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
    except FileNotFoundError:
        raise InputError("no such file (check the path)", path=str(path)) from None
    except OSError as error:
        reason = f"cannot read the file: {error.strerror or error} (check its permissions)"
        raise InputError(reason, path=str(path)) from None
    if start.startswith(_UTF16_BOMS):
        reason = "is UTF-16 text (save it as UTF-8; in Excel: CSV UTF-8)"
        raise InputError(reason, path=str(path), line=1)


def open_users(path: Path) -> IO[str]:
    # utf-8-sig drops a byte-order mark if there is one; undecodable bytes become U+FFFD
    # so the row they sit on is reported, instead of the whole read failing.
    check_users_path(path)
    try:
        return path.open(encoding="utf-8-sig", errors="replace", newline="")
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror})", path=str(path)) from None


def csv_records(path: str, reader: Any) -> Iterator[list[str]]:
    """``reader``'s records; the csv module's own errors become a located InputError."""
    for _, record in records_of(reader, path=path):
        yield record


def _csv_reason(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return (
            f"a field is longer than {csv.field_size_limit()} characters "
            '(is a quote left open? a field that starts with " runs to the next ")'
        )
    return f"not readable as CSV: {error}"


def read_users(
    path: Path,
    default_region: str,
    *,
    find_duplicates: bool = True,
    consent: ConsentRule | None = None,
) -> Iterator[tuple[int, list[str], UserRow | list[InputError]]]:
    """Every record in the file as (starting line, raw fields, verdict), in file order.

    Raises InputError/InputErrors when the header itself is unusable. Duplicate external ids
    are reported on the second and later occurrences unless ``find_duplicates`` is off.
    For big files, ``pipeline.campaigns.staging`` validates in worker processes.
    """
    with open_users(path) as handle:
        reader = csv.reader(handle, strict=False)
        header = read_header(str(path), reader)
        validator = RowValidator(str(path), header, default_region, consent)
        seen: set[str] = set()
        for line, record in records_of(reader, path=str(path)):
            verdict = validator.validate(line, record)
            if find_duplicates and isinstance(verdict, UserRow):
                verdict = _first_use(verdict, seen, str(path))
            yield line, record, verdict


def _first_use(row: UserRow, seen: set[str], path: str) -> UserRow | list[InputError]:
    if row.external_id in seen:
        reason = f"duplicate external_id {row.external_id!r} (also on an earlier line)"
        return [InputError(reason, path=path, line=row.line, field="external_id")]
    seen.add(row.external_id)
    return row


def records_of(reader: Any, first_line: int = 1, path: str = "") -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted field may span lines);
    ``first_line`` is the file line of the reader's first line. The csv module's own
    errors (a field over its size limit) become an InputError on the record's line."""
    previous_end = reader.line_num
    while True:
        line = first_line + previous_end
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InputError(_csv_reason(error), path=path or None, line=line) from None
        previous_end = reader.line_num
        if record and (len(record) > 1 or record[0].strip()):
            yield line, record


def count_users(path: Path) -> int:
    """How many users (non-blank records after the header) the file holds: the progress
    total. Parsed as CSV, so a quoted field spanning lines or a blank line is not a user."""
    with open_users(path) as handle:
        reader = csv.reader(handle, strict=False)
        return max(sum(1 for _ in records_of(reader, path=str(path))) - 1, 0)


class RejectsWriter:
    """Bad rows with their reasons, written beside the users file for ``--skip-invalid``:
    ``line,reasons`` and then the users file's own columns, so the file is valid CSV that
    can be fixed and imported again."""

    def __init__(self, path: Path, columns: tuple[str, ...] = COLUMNS) -> None:
        self.path = path
        self.columns = columns
        self._handle: IO[str] | None = None
        self._writer: Any = None  # csv's writer type is not public

    def write(
        self, line: int, record: list[str], errors: list[InputError], *, canonical: bool = False
    ) -> None:
        """``record`` as read from the file, or (``canonical``) in ``COLUMNS`` order."""
        if self._writer is None:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", "reasons", *self.columns])
        reasons = "; ".join(f"{e.field + ': ' if e.field else ''}{e.reason}" for e in errors)
        self._writer.writerow([line, reasons, *self._fit(record, canonical)])

    def _fit(self, record: list[str], canonical: bool) -> list[str]:
        if canonical:
            by_name = dict(zip(COLUMNS, record, strict=False))
            return [by_name.get(name, "") for name in self.columns]
        width = len(self.columns)
        if len(record) > width:  # keep every value: the surplus joins the last column
            return [*record[: width - 1], ",".join(record[width - 1 :])]
        return record + [""] * (width - len(record))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def file_columns(path: Path) -> tuple[str, ...]:
    """The users file's header (lower-cased), or the standard columns if it has none."""
    try:
        with open_users(path) as handle:
            header = next(csv_records(str(path), csv.reader(handle)), None)
    except InputError:
        header = None
    return tuple(name.strip().lower() for name in header) if header else COLUMNS
