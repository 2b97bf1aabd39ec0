"""Validate a big USERS.csv into a normalised staging CSV, in worker processes.

Phone parsing dominates the cost of a million-row file, so rows are validated in chunks
by a process pool. The main process only cuts the file into chunks of raw text (at record
boundaries: never inside a quoted field) and writes back each chunk's normalised rows as one
string, so almost nothing per row crosses a process boundary. With one worker the same code
runs in-process.

Staging rows are ``line,external_id,name,phone,email,locale,timezone,risk_tier`` (the line a
record starts on is its unique key). Duplicate external ids are not checked here: launch
finds them in the staging table.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pipeline.campaigns.consent import ConsentRule
from pipeline.campaigns.users import RowValidator, UserRow, open_users, read_header, records_of
from pipeline.errors import InputError

STAGING_COLUMNS = (
    *("line", "external_id", "name", "phone", "email", "locale", "timezone", "risk_tier"),
    "consent",
)
BadRow = tuple[int, list[str], list[InputError]]


@dataclass
class Chunk:
    """One chunk's outcome: its good rows as staging CSV text, and its bad rows."""

    text: str = ""
    good: int = 0
    bad: list[BadRow] = field(default_factory=list)
    last_line: int = 0


def stage_users(
    path: Path,
    default_region: str,
    out: IO[str],
    *,
    workers: int = 1,
    chunk_lines: int = 4000,
    consent: ConsentRule | None = None,
) -> Iterator[Chunk]:
    """Write every good row of ``path`` (normalised) to ``out``; yield each chunk, in file
    order, for its bad rows and for progress. Raises InputError(s) for a bad header."""
    with open_users(path) as handle:
        header = read_header(str(path), csv.reader(io.StringIO(handle.readline(), newline="")))
        setup = (str(path), header, default_region, consent or ConsentRule())
        chunks = _raw_chunks(handle, first_line=2, chunk_lines=chunk_lines)
        if workers > 1:
            results = _in_processes(chunks, setup, workers)
        else:
            validator = RowValidator(*setup)
            results = (_validate_text(validator, start, text) for start, text in chunks)
        for chunk in results:
            out.write(chunk.text)
            yield chunk


def _raw_chunks(handle: IO[str], first_line: int, chunk_lines: int) -> Iterator[tuple[int, str]]:
    """(first line, text) pieces of about ``chunk_lines`` lines, cut only between records."""
    lines: list[str] = []
    start, inside_quotes = first_line, False
    for text in handle:
        lines.append(text)
        # A doubled quote inside a field counts twice, so odd parity means "still inside".
        if text.count('"') % 2:
            inside_quotes = not inside_quotes
        if not inside_quotes and len(lines) >= chunk_lines:
            yield start, "".join(lines)
            start, lines = start + len(lines), []
    if lines:
        yield start, "".join(lines)


def _validate_text(validator: RowValidator, start: int, text: str) -> Chunk:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    chunk = Chunk()
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    for line, record in records_of(reader, start, validator.path):
        chunk.last_line = line
        verdict = validator.validate(line, record)
        if isinstance(verdict, UserRow):
            writer.writerow(verdict)
            chunk.good += 1
        else:
            chunk.bad.append((line, record, verdict))
    chunk.text = buffer.getvalue()
    return chunk


_worker_validator: RowValidator | None = None


def _start_worker(path: str, header: list[str], default_region: str, consent: ConsentRule) -> None:
    global _worker_validator
    _worker_validator = RowValidator(path, header, default_region, consent)


def _validate_in_worker(start: int, text: str) -> Chunk:
    assert _worker_validator is not None, "worker not initialised"
    return _validate_text(_worker_validator, start, text)


def _in_processes(
    chunks: Iterator[tuple[int, str]],
    setup: tuple[str, list[str], str, ConsentRule],
    workers: int,
) -> Iterator[Chunk]:
    # A bounded window of chunks in flight keeps memory flat however big the file is.
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=setup) as pool:
        pending: deque[Future[Chunk]] = deque()
        for start, text in chunks:
            pending.append(pool.submit(_validate_in_worker, start, text))
            if len(pending) >= workers * 3:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
