"""The remedy confirmations file: ``external_id,completed_at[,note]``, as a service centre
exports it. Read and checked like the users file (``pipeline.campaigns.users``): every bad
row is reported with its line and column in one pass, UTF-8 with or without a BOM.

``completed_at`` is an ISO date (``2026-03-02``) or date-time (``2026-03-02T14:30``, a
time zone offset optional; none means UTC), and not in the future.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from pipeline.campaigns.users import open_users, read_csv_header, records_of
from pipeline.errors import InputError
from pipeline.remedies.confirm import MAX_NOTE, Confirmation

COLUMNS = ("external_id", "completed_at", "note")
REQUIRED = ("external_id", "completed_at")
# A clock a little ahead of ours is not a confirmation from the future.
CLOCK_SKEW = timedelta(minutes=5)


def parse_completed_at(raw: str, now: datetime) -> datetime:
    """An aware UTC datetime, or ValueError saying how to write it."""
    value = raw.strip()
    if not value:
        raise ValueError("required")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "not a date or date-time; write it like 2026-03-02 or 2026-03-02T14:30"
        ) from None
    if len(value) <= 10:  # a bare date: the remedy was done that day
        parsed = datetime.combine(parsed.date(), time(0))
    moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if moment > now + CLOCK_SKEW:
        raise ValueError(f"is in the future ({moment.isoformat()})")
    return moment


def check_item(
    external_id: str, completed_at: str, note: str, now: datetime
) -> tuple[Confirmation | None, list[tuple[str, str]]]:
    """One item's fields → a Confirmation, or its problems as ``(field, reason)``; shared
    by the file and the API so both say the same thing about the same mistake."""
    problems: list[tuple[str, str]] = []
    if not external_id:
        problems.append(("external_id", "required"))
    elif len(external_id) > 128:
        problems.append(("external_id", "longer than 128 characters"))
    moment = None
    try:
        moment = parse_completed_at(completed_at, now)
    except ValueError as error:
        problems.append(("completed_at", str(error)))
    if len(note) > MAX_NOTE:
        problems.append(("note", f"longer than {MAX_NOTE} characters"))
    if any("\x00" in value for value in (external_id, completed_at, note)):
        problems.append(("external_id", "contains a NUL byte"))
    if problems or moment is None:
        return None, problems
    return Confirmation(external_id, moment, note), []


def read_header(path: str, reader: Iterator[list[str]]) -> list[str]:
    return read_csv_header(path, reader, COLUMNS, required=REQUIRED)


Verdict = Confirmation | list[InputError]


def read_confirmations(path: Path, now: datetime) -> Iterator[tuple[int, list[str], Verdict]]:
    """Every record as (line, raw fields, Confirmation or its located errors), in file
    order; a repeated external_id is an error on its second and later lines. Raises
    InputError/InputErrors when the file or its header is unusable."""
    with open_users(path) as handle:
        reader = csv.reader(handle, strict=False)
        header = read_header(str(path), reader)
        index = {name: i for i, name in enumerate(header)}
        seen: set[str] = set()
        for line, record in records_of(reader, path=str(path)):
            yield line, record, _verdict(str(path), line, record, header, index, seen, now)


def _verdict(
    path: str,
    line: int,
    record: list[str],
    header: list[str],
    index: dict[str, int],
    seen: set[str],
    now: datetime,
) -> Verdict:
    if len(record) != len(header):
        reason = f"expected {len(header)} fields, found {len(record)}"
        return [InputError(reason, path=path, line=line)]
    if any("\ufffd" in value for value in record):
        return [InputError("not valid UTF-8 text (save the file as UTF-8)", path=path, line=line)]

    def get(name: str) -> str:
        return record[index[name]].strip() if name in index else ""

    item, problems = check_item(get("external_id"), get("completed_at"), get("note"), now)
    if item is None:
        return [InputError(reason, path=path, line=line, field=f) for f, reason in problems]
    if item.external_id in seen:
        reason = f"duplicate external_id {item.external_id!r} (also on an earlier line)"
        return [InputError(reason, path=path, line=line, field="external_id")]
    seen.add(item.external_id)
    return Confirmation(item.external_id, item.completed_at, item.note, line)
