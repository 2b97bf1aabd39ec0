"""``recall remedies import``: a whole confirmations file, all or nothing.

The file is checked first — its rows, then each row against the campaign (is there such a
case? is it cancelled?) — and only a file with no problem is applied, in one transaction,
so a bad file writes nothing. With ``skip_invalid`` the bad rows go to a rejects file beside
it (``remedies.rejects.csv``: ``line,reasons`` then the file's own columns, fixable and
importable again) and the rest are applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from pipeline.campaigns.users import RejectsWriter, file_columns, rejects_path_for
from pipeline.errors import InputError, InputErrors
from pipeline.remedies.confirm import (
    Confirmation,
    ConfirmReport,
    campaign_of,
    confirm_all,
    item_problems,
)
from pipeline.remedies.csv_input import COLUMNS, read_confirmations

Progress = Callable[[int, int], None]


@dataclass
class ImportResult:
    report: ConfirmReport
    applied: int
    rejected: int
    rejects_path: Path | None


def import_confirmations(
    session: Session,
    campaign_id: int,
    path: Path,
    *,
    actor: str,
    now: datetime,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Check and apply ``path`` (see the module docstring); raises InputErrors, with nothing
    written, when a row is bad and ``skip_invalid`` is off."""
    campaign_of(session, campaign_id)
    items: list[Confirmation] = []
    errors: list[InputError] = []
    for _, _, verdict in read_confirmations(path, now):
        if isinstance(verdict, Confirmation):
            items.append(verdict)
        else:
            errors.extend(verdict)
    cases, unknown = item_problems(session, campaign_id, items, path=str(path))
    errors.extend(unknown)
    if errors and not skip_invalid:
        raise InputErrors(
            sorted(errors, key=lambda e: e.line or 0),
            summary=f"{len(errors)} problem(s) in {path}; nothing was imported "
            "(fix them, or --skip-invalid to import the rest)",
        )
    bad_lines = {error.line for error in errors if error.line is not None}
    good = [item for item in items if item.line not in bad_lines]
    rejects = _write_rejects(path, errors, now) if errors else None
    report = _apply(session, campaign_id, good, cases, actor, now, progress)
    return ImportResult(report, len(good), len(bad_lines), rejects)


def _apply(
    session: Session,
    campaign_id: int,
    items: list[Confirmation],
    cases: dict[str, int],
    actor: str,
    now: datetime,
    progress: Progress | None,
) -> ConfirmReport:
    report = ConfirmReport()
    step = 1000
    for start in range(0, len(items), step):
        chunk = items[start : start + step]
        part = confirm_all(session, campaign_id, chunk, cases, source="import", actor=actor,
                           now=now)  # fmt: skip
        for outcome, count in part.outcomes.items():
            report.outcomes[outcome] += count
        if progress is not None:
            progress(min(start + step, len(items)), len(items))
    return report


def _write_rejects(path: Path, errors: list[InputError], now: datetime) -> Path:
    """The bad rows as read, with their reasons: a second pass over the file, so a big
    file's good rows are never held in memory as raw text."""
    target = rejects_path_for(path)
    by_line: dict[int, list[InputError]] = {}
    for error in errors:
        by_line.setdefault(error.line or 0, []).append(error)
    writer = RejectsWriter(target, columns=file_columns(path) or COLUMNS)
    try:
        for line, record, _ in read_confirmations(path, now):
            if line in by_line:
                writer.write(line, record, by_line[line])
    finally:
        writer.close()
    return target
