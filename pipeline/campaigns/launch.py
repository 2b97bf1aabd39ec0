"""Launch a campaign: validate the users file, then store the campaign, its recipients and
one case per recipient in one transaction.

Two passes. The first streams USERS.csv, validates every row (in worker processes for a
big file) and writes the normalised rows to a temporary file. The second, in one
transaction, loads that file into a temporary staging table (PostgreSQL's COPY; batched
inserts on SQLite), finds repeated external ids there, and — only if no row is bad, or with
``skip_invalid`` — creates the campaign and moves the rows into ``recipient`` and
``recall_case`` with a few set-based statements per batch. Any error rolls all of it back:
a bad file leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, bindparam, insert, text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.campaigns.consent import ConsentRule, consent_rule
from pipeline.campaigns.file import CampaignSpec
from pipeline.campaigns.staging import STAGING_COLUMNS, stage_users
from pipeline.campaigns.users import (
    RejectsWriter,
    check_users_path,
    file_columns,
    rejects_path_for,
)
from pipeline.clock import utcnow
from pipeline.errors import InputError, InputErrors
from pipeline.inbound.reply_codes import with_free_code
from pipeline.models import Campaign, UTCDateTime
from pipeline.settings import get_settings

# Where ``recall run`` keeps the fingerprint of the files it launched from, in Campaign.spec.
RUN_KEY = "run_key"

# progress(phase, done, total): phases are "validating", "loading", "storing".
Progress = Callable[[str, int, int | None], None]


@dataclass
class LaunchReport:
    campaign_id: int
    cases: int
    rejected: int = 0
    rejects_path: Path | None = None
    errors: list[InputError] = field(default_factory=list)


@dataclass
class _Checked:
    """What the validation pass found; ``staged`` rows went to the staging file."""

    path: Path
    staged: int = 0
    last_line: int = 0
    errors: list[InputError] = field(default_factory=list)
    rejected: int = 0
    duplicates: int = 0
    rejects: RejectsWriter | None = None
    run_key: str | None = None
    consent: ConsentRule = field(default_factory=ConsentRule)  # from the campaign's reason

    def reject(
        self, line: int, record: list[str], errors: list[InputError], *, canonical: bool = False
    ) -> None:
        self.errors.extend(errors)
        self.rejected += 1
        if self.rejects is not None:
            self.rejects.write(line, record, errors, canonical=canonical)


def _no_progress(phase: str, done: int, total: int | None) -> None:
    """The default progress callback: says nothing."""


def files_fingerprint(campaign_file: Path, users: Path) -> str:
    """sha256 over both files' bytes: the same files are the same campaign."""
    digest = hashlib.sha256()
    for path in (campaign_file, users):
        digest.update(str(path.stat().st_size).encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def launch_campaign(
    target: Engine | sessionmaker[Session],
    spec: CampaignSpec,
    users_path: str | Path,
    **options: Any,
) -> int:
    """Create the campaign (state ``running``) and its cases (``pending``, step 0, due now);
    returns its id. The caller enqueues ``campaign.fan_out`` after this returns."""
    return launch(target, spec, users_path, **options).campaign_id


def launch(
    target: Engine | sessionmaker[Session],
    spec: CampaignSpec,
    users_path: str | Path,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
    default_region: str | None = None,
    batch_size: int | None = None,
    run_key: str | None = None,
) -> LaunchReport:
    """Validate ``users_path`` fully, then store everything; raises InputErrors listing
    every bad row (and writes nothing) unless ``skip_invalid``. ``run_key`` (the files'
    fingerprint, from ``recall run``) is stored in the same transaction, so a run that
    stops at any point is found again by the next one, never launched twice."""
    engine = target if isinstance(target, Engine) else target.kw["bind"]
    settings = get_settings()
    progress = progress or _no_progress
    path = Path(users_path)
    check_users_path(path)
    batch = batch_size or settings.launch_batch_size
    rejects = RejectsWriter(rejects_path_for(path), file_columns(path)) if skip_invalid else None
    checked = _Checked(
        path, rejects=rejects, run_key=run_key, consent=consent_rule(spec.reason.value)
    )
    region = default_region or settings.default_region
    try:
        if engine.dialect.name == "postgresql":
            campaign_id = _launch_streamed(engine, checked, spec, region, now, batch, progress)
        else:
            with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as staging:
                _validate(checked, staging, region, progress)
                staging.seek(0)
                with engine.begin() as conn:
                    campaign_id = _stage_and_store(
                        conn, checked, staging, spec, now or utcnow(), batch, progress
                    )
    finally:
        if checked.rejects is not None:
            checked.rejects.close()
    rejects_path = (
        checked.rejects.path if checked.rejects is not None and checked.rejected else None
    )
    cases = checked.staged - checked.duplicates
    return LaunchReport(campaign_id, cases, checked.rejected, rejects_path, checked.errors)


class _CopyOut:
    """The staging file's ``write`` for ``stage_users``: each validated chunk goes straight
    into PostgreSQL's COPY, so the server loads while the workers validate the next ones."""

    def __init__(self, copy: Any) -> None:
        self.copy = copy

    def write(self, chunk: str) -> int:
        self.copy.write(chunk)
        return len(chunk)


def _launch_streamed(
    engine: Engine,
    checked: _Checked,
    spec: CampaignSpec,
    region: str,
    now: datetime | None,
    batch: int,
    progress: Progress,
) -> int:
    """PostgreSQL: validate (in worker processes) and COPY into the staging table in one
    pass, inside the launch transaction; a bad row found at the end still rolls it all back."""
    with engine.begin() as conn:
        conn.execute(text(_CREATE_STAGING + " ON COMMIT DROP"))
        columns = ", ".join(STAGING_COLUMNS)
        statement = f"COPY launch_staging ({columns}) FROM STDIN (FORMAT csv)"
        with _driver(conn).cursor() as cursor, cursor.copy(statement) as copy:
            _validate(checked, _CopyOut(copy), region, progress)  # type: ignore[arg-type]
        progress("loading", checked.staged, checked.staged)
        return _check_and_store(conn, checked, spec, now or utcnow(), batch, progress)


def _stage_and_store(
    conn: Connection,
    checked: _Checked,
    staging: IO[str],
    spec: CampaignSpec,
    now: datetime,
    batch: int,
    progress: Progress,
) -> int:
    """Inside the launch transaction: any exception rolls every row back."""
    _load_staging(conn, staging, checked.staged, batch, progress)
    return _check_and_store(conn, checked, spec, now, batch, progress)


def _check_and_store(
    conn: Connection,
    checked: _Checked,
    spec: CampaignSpec,
    now: datetime,
    batch: int,
    progress: Progress,
) -> int:
    """With the staging table loaded: reject repeats, then store (or raise every error)."""
    checked.duplicates = _reject_duplicates(conn, checked)
    if checked.errors and checked.rejects is None:
        checked.errors.sort(key=lambda error: error.line or 0)
        summary = f"{checked.path}: {checked.rejected} bad row(s); nothing was imported"
        raise InputErrors(checked.errors, summary=summary)
    if checked.staged - checked.duplicates <= 0:
        raise InputError("no valid rows to import", path=str(checked.path))
    campaign_id = _insert_campaign(conn, spec, now, checked.run_key)
    users = checked.staged - checked.duplicates
    _store(conn, campaign_id, checked.last_line, now, batch, _in_users(progress, users))
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TABLE temp.launch_staging"))
    return campaign_id


def _in_users(progress: Progress, users: int) -> Progress:
    """Storing goes by file lines (blank and bad ones too); the bar counts users."""

    def report(phase: str, lines_done: int, lines: int | None) -> None:
        progress(phase, round(users * lines_done / lines) if lines else users, users)

    return report


def _validate(checked: _Checked, staging: IO[str], default_region: str, progress: Progress) -> None:
    """Stream the file once: good rows (normalised) to ``staging``, bad ones to ``checked``."""
    # The bar's total: file lines less the header, a near-exact count read at disk speed
    # (a parse of the whole file, as count_users does, costs seconds on a million rows).
    total = estimate_users(checked.path)
    # Worker processes pay off only on big files; they start in a fraction of a second.
    workers = (get_settings().import_workers or os.cpu_count() or 1) if total > 20000 else 1
    chunks = stage_users(
        checked.path, default_region, staging, workers=workers, consent=checked.consent
    )
    for chunk in chunks:
        checked.staged += chunk.good
        checked.last_line = max(checked.last_line, chunk.last_line)
        for line, record, errors in chunk.bad:
            checked.reject(line, record, errors)
        progress("validating", checked.staged + checked.rejected, total)
    progress("validating", checked.staged + checked.rejected, checked.staged + checked.rejected)


def estimate_users(path: Path) -> int:
    """Lines after the header: the users, give or take blank lines and quoted line breaks."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def _reject_duplicates(conn: Connection, checked: _Checked) -> int:
    """A repeated external_id is an error on every later line. Found in the database, so a
    million ids never sit in memory; the repeats leave the staging table."""
    found = conn.execute(text(_DUPLICATES)).all()
    # (Rows of a repeat go to the rejects file as normalised values, in the staging order.)
    for line, external_id, first_line, *values in found:
        reason = f"duplicate external_id {external_id!r} (also on line {first_line})"
        error = InputError(reason, path=str(checked.path), line=line, field="external_id")
        record = [external_id, *("" if v is None else str(v) for v in values)]
        checked.reject(line, record, [error], canonical=True)
    if found and checked.rejects is not None:
        delete = text("DELETE FROM launch_staging WHERE line IN :lines")
        lines = [row[0] for row in found]
        for start in range(0, len(lines), 10000):
            conn.execute(
                delete.bindparams(bindparam("lines", expanding=True)),
                {"lines": lines[start : start + 10000]},
            )
    return len(found)


_DUPLICATES = """
SELECT line, external_id, first_line, name, phone, email, locale, timezone, risk_tier
FROM (SELECT s.*, row_number() OVER (PARTITION BY external_id ORDER BY line) AS nth,
             min(line) OVER (PARTITION BY external_id) AS first_line
      FROM launch_staging s) numbered
WHERE nth > 1
ORDER BY line
"""


def _insert_campaign(
    conn: Connection, spec: CampaignSpec, now: datetime, run_key: str | None = None
) -> int:
    stored = spec.to_json()
    if run_key is not None:
        stored[RUN_KEY] = run_key
    values = dict(
        name=spec.name,
        reason=spec.reason.value,
        description=spec.description,
        remedy=spec.remedy,
        help_text=spec.help_text,
        spec=stored,
        policy=spec.policy(),
        quiet_hours=stored["quiet_hours"],
        completion=spec.completion,
        deadline=spec.deadline,
        state="running",
        fan_out_cursor=0,
        created_at=now,
        launched_at=now,
    )
    # The code replies name it by when a phone has several recalls open; a launch racing
    # this one may take the same code, and then this one retries with another.
    result = with_free_code(
        conn, lambda code: conn.execute(insert(Campaign).values(**values, reply_code=code))
    )
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database did not return the new campaign's id")
    return int(key[0])


_CREATE_STAGING = """
CREATE TEMP TABLE launch_staging (
    line BIGINT PRIMARY KEY, external_id VARCHAR(128) NOT NULL,
    name VARCHAR(256),
    phone VARCHAR(32), email VARCHAR(320), locale VARCHAR(16), timezone VARCHAR(64),
    risk_tier INTEGER, consent VARCHAR(24)
)"""


def _load_staging(
    conn: Connection, staging: IO[str], rows: int, batch_size: int, progress: Progress
) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(_CREATE_STAGING + " ON COMMIT DROP"))
        _copy_postgres(conn, staging, rows, progress)
    else:
        conn.execute(text("DROP TABLE IF EXISTS temp.launch_staging"))
        conn.execute(text(_CREATE_STAGING))
        _insert_sqlite(conn, staging, rows, batch_size, progress)


def _driver(conn: Connection) -> Any:
    """The DB-API connection under ``conn``, inside the same transaction."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the database connection is closed")
    return raw


def _copy_postgres(conn: Connection, staging: IO[str], rows: int, progress: Progress) -> None:
    raw = _driver(conn)
    columns = ", ".join(STAGING_COLUMNS)
    done = 0
    with (
        raw.cursor() as cursor,
        cursor.copy(  # type: ignore[union-attr]
            f"COPY launch_staging ({columns}) FROM STDIN (FORMAT csv)"
        ) as copy,
    ):
        while chunk := staging.read(1 << 20):
            copy.write(chunk)
            done += chunk.count("\n")
            progress("loading", min(done, rows), rows)
    progress("loading", rows, rows)


def _insert_sqlite(
    conn: Connection, staging: IO[str], rows: int, batch_size: int, progress: Progress
) -> None:
    cursor = _driver(conn).cursor()
    marks = ", ".join("?" for _ in STAGING_COLUMNS)
    statement = f"INSERT INTO temp.launch_staging VALUES ({marks})"
    batch: list[list[str | None]] = []
    done = 0
    for record in csv.reader(staging):
        batch.append([value or None for value in record])
        if len(batch) >= batch_size:
            cursor.executemany(statement, batch)
            done += len(batch)
            batch.clear()
            progress("loading", done, rows)
    cursor.executemany(statement, batch)
    cursor.close()
    progress("loading", rows, rows)


# Same SQL on both databases. An existing recipient (same external_id) is updated, keeping
# its suppression flags: an opt-out outlives any campaign.
_UPSERT_RECIPIENTS = """
INSERT INTO recipient (external_id, name, phone, email, locale, timezone, risk_tier,
                       sms_opted_out, email_opted_out, voice_opted_out, created_at, updated_at,
                       consent)
SELECT external_id, COALESCE(name, ''), phone, email, COALESCE(locale, 'en'),
       COALESCE(timezone, 'UTC'), COALESCE(risk_tier, 2), false, false, false, :now, :now,
       consent
FROM launch_staging WHERE line >= :low AND line < :high ORDER BY line
ON CONFLICT (external_id) DO UPDATE SET
    name = excluded.name, phone = excluded.phone, email = excluded.email,
    locale = excluded.locale, timezone = excluded.timezone, risk_tier = excluded.risk_tier,
    updated_at = excluded.updated_at, consent = excluded.consent
"""

_INSERT_CASES = """
INSERT INTO recall_case (campaign_id, recipient_id, state, step, next_due_at,
                         created_at, updated_at)
SELECT :campaign_id, r.id, 'pending', 0, :now, :now, :now
FROM launch_staging s JOIN recipient r ON r.external_id = s.external_id
WHERE s.line >= :low AND s.line < :high
ORDER BY s.line
"""


# PostgreSQL: one statement per batch; the upsert hands its ids straight to the case insert
# (RETURNING covers updated rows too), sparing a million index lookups.
_UPSERT_AND_CASES_PG = f"""
WITH upserted AS ({_UPSERT_RECIPIENTS} RETURNING id)
INSERT INTO recall_case (campaign_id, recipient_id, state, step, next_due_at,
                         created_at, updated_at)
SELECT :campaign_id, id, 'pending', 0, :now, :now, :now FROM upserted
"""


def _store(
    conn: Connection,
    campaign_id: int,
    last_line: int,
    now: datetime,
    batch_size: int,
    progress: Progress,
) -> None:
    # Batches of file lines keep each statement's working set small; case ids follow the
    # file's order.
    when = bindparam("now", type_=UTCDateTime())
    if conn.dialect.name == "postgresql":
        statements = [text(_UPSERT_AND_CASES_PG).bindparams(when)]
    else:
        statements = [text(sql).bindparams(when) for sql in (_UPSERT_RECIPIENTS, _INSERT_CASES)]
    step = max(batch_size, 1)
    for low in range(1, last_line + 1, step):
        window = {"low": low, "high": low + step, "now": now, "campaign_id": campaign_id}
        for statement in statements:
            conn.execute(statement, window)
        progress("storing", min(low + step - 1, last_line), last_line)
