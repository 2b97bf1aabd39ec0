"""Launch a campaign: validate the users file, then store the campaign, its recipients and
one case per recipient in one transaction.

Two passes. The first streams USERS.csv, validates every row and writes the normalised rows
to a temporary file; if any row is bad (and ``skip_invalid`` is off) it stops there, having
written nothing. The second loads that file into a temporary staging table (PostgreSQL's
COPY; batched inserts on SQLite) and moves it into ``recipient`` and ``recall_case`` with a
few set-based statements per batch. A failure anywhere rolls the whole launch back.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, bindparam, insert, text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.campaign_file import CampaignSpec
from pipeline.clock import utcnow
from pipeline.errors import InputError, InputErrors
from pipeline.models import Campaign, UTCDateTime
from pipeline.settings import get_settings
from pipeline.users_csv import RejectsWriter, UserRow, read_users, rejects_path_for

# progress(phase, done, total): phases are "validating", "loading", "storing".
Progress = Callable[[str, int, int | None], None]
STAGING_COLUMNS = (
    "seq",
    "external_id",
    "name",
    "phone",
    "email",
    "locale",
    "timezone",
    "risk_tier",
)


@dataclass
class LaunchReport:
    campaign_id: int
    cases: int
    rejected: int = 0
    rejects_path: Path | None = None
    errors: list[InputError] = field(default_factory=list)


@dataclass
class _Validated:
    rows: int
    errors: list[InputError]
    rejected: int
    rejects_path: Path | None


def _no_progress(phase: str, done: int, total: int | None) -> None:
    """The default progress callback: says nothing."""


def count_records(path: Path) -> int:
    """Lines after the header: a cheap total for the progress bar (binary newline count)."""
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return max(count - 1, 0)


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
) -> LaunchReport:
    """Validate ``users_path`` fully, then store everything; raises InputErrors listing
    every bad row (and writes nothing) unless ``skip_invalid``."""
    engine = target if isinstance(target, Engine) else target.kw["bind"]
    settings = get_settings()
    progress = progress or _no_progress
    users_path = Path(users_path)
    now = now or utcnow()
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as staging:
        checked = _validate(
            users_path,
            staging,
            default_region=default_region or settings.default_region,
            skip_invalid=skip_invalid,
            progress=progress,
        )
        staging.seek(0)
        with engine.begin() as conn:
            campaign_id = _insert_campaign(conn, spec, now)
            _load_staging(
                conn, staging, checked.rows, batch_size or settings.launch_batch_size, progress
            )
            _store(
                conn,
                campaign_id,
                checked.rows,
                now,
                batch_size or settings.launch_batch_size,
                progress,
            )
            if conn.dialect.name == "sqlite":
                conn.execute(text("DROP TABLE temp.launch_staging"))
    return LaunchReport(
        campaign_id, checked.rows, checked.rejected, checked.rejects_path, checked.errors
    )


def _validate(
    path: Path, staging: IO[str], *, default_region: str, skip_invalid: bool, progress: Progress
) -> _Validated:
    total = count_records(path)
    # Worker processes pay off only on big files; they start in a fraction of a second.
    workers = (get_settings().import_workers or os.cpu_count() or 1) if total > 20000 else 1
    writer = csv.writer(staging)
    rejects = RejectsWriter(rejects_path_for(path)) if skip_invalid else None
    errors: list[InputError] = []
    rows = rejected = seen = 0
    try:
        for line, record, verdict in read_users(path, default_region, workers=workers):
            seen += 1
            if isinstance(verdict, UserRow):
                rows += 1
                writer.writerow((rows, *verdict[1:]))
            else:
                errors.extend(verdict)
                rejected += 1
                if rejects is not None:
                    rejects.write(line, record, verdict)
            if seen % 10000 == 0:
                progress("validating", seen, total)
    finally:
        if rejects is not None:
            rejects.close()
    progress("validating", seen, seen)
    if errors and not skip_invalid:
        raise InputErrors(errors, summary=f"{path}: {rejected} bad row(s); nothing was imported")
    if rows == 0:
        raise InputError("no valid rows to import", path=str(path))
    rejects_path = rejects.path if rejects is not None and rejected else None
    return _Validated(rows, errors, rejected, rejects_path)


def _insert_campaign(conn: Connection, spec: CampaignSpec, now: datetime) -> int:
    stored = spec.to_json()
    result = conn.execute(
        insert(Campaign).values(
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
    )
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database did not return the new campaign's id")
    return int(key[0])


_CREATE_STAGING = """
CREATE TEMP TABLE launch_staging (
    seq BIGINT PRIMARY KEY, external_id VARCHAR(128) NOT NULL, name VARCHAR(256),
    phone VARCHAR(32), email VARCHAR(320), locale VARCHAR(16), timezone VARCHAR(64),
    risk_tier INTEGER
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
                       sms_opted_out, email_opted_out, voice_opted_out, created_at, updated_at)
SELECT external_id, COALESCE(name, ''), phone, email, COALESCE(locale, 'en'),
       COALESCE(timezone, 'UTC'), COALESCE(risk_tier, 2), false, false, false, :now, :now
FROM launch_staging WHERE seq > :low AND seq <= :high
ON CONFLICT (external_id) DO UPDATE SET
    name = excluded.name, phone = excluded.phone, email = excluded.email,
    locale = excluded.locale, timezone = excluded.timezone, risk_tier = excluded.risk_tier,
    updated_at = excluded.updated_at
"""

_INSERT_CASES = """
INSERT INTO recall_case (campaign_id, recipient_id, state, step, next_due_at,
                         created_at, updated_at)
SELECT :campaign_id, r.id, 'pending', 0, :now, :now, :now
FROM launch_staging s JOIN recipient r ON r.external_id = s.external_id
WHERE s.seq > :low AND s.seq <= :high
ORDER BY s.seq
"""


def _store(
    conn: Connection,
    campaign_id: int,
    rows: int,
    now: datetime,
    batch_size: int,
    progress: Progress,
) -> None:
    # Batches keep each statement's working set small; case ids follow the file's order.
    when = bindparam("now", type_=UTCDateTime())
    upsert = text(_UPSERT_RECIPIENTS).bindparams(when)
    cases = text(_INSERT_CASES).bindparams(when)
    step = max(batch_size, 1)
    for low in range(0, rows, step):
        window = {"low": low, "high": low + step, "now": now}
        conn.execute(upsert, window)
        conn.execute(cases, {**window, "campaign_id": campaign_id})
        progress("storing", min(low + step, rows), rows)
