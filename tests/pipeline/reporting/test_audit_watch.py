"""The periodic audit check verifies only what was written since its last run, yet an edit
of a row it already passed is still found by the next full run, and a row that commits late
below what it verified is never read as a break."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, event, select, update

from pipeline.db import session_scope
from pipeline.models import AuditEvent
from pipeline.privacy import audit
from pipeline.reporting.incident_checks import AuditWatch
from pipeline.settings import get_settings


def _write(engine: Engine, n: int, start: int = 0) -> None:
    with session_scope(engine) as session:
        for i in range(start, start + n):
            audit.record(session, actor="test", action="case.changed", entity=f"case:{i}", data={})


def _tamper(engine: Engine, row_id: int) -> None:
    with session_scope(engine) as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == row_id).values(actor="mallory"))


def _rows_read(engine: Engine, watch: AuditWatch, rows: int = 5000) -> tuple[int, list[str]]:
    """Runs the watch once; returns how many audit rows its window query returned, and the
    findings' details."""
    read = [0]

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT audit_event.id, audit_event.chain"):
            read[0] += cursor.rowcount

    event.listen(engine, "after_cursor_execute", count)
    try:
        with session_scope(engine) as session:
            findings = watch.breaks(session, rows)
    finally:
        event.remove(engine, "after_cursor_execute", count)
    return read[0], [finding.detail for finding in findings]


def test_a_run_reads_only_rows_written_since_the_last(pg_engine: Engine) -> None:
    watch = AuditWatch(full_every=10)
    _write(pg_engine, 30)
    assert _rows_read(pg_engine, watch) == (30, [])  # the first run checks the whole window
    _write(pg_engine, 4, start=30)
    assert _rows_read(pg_engine, watch) == (4, [])
    assert _rows_read(pg_engine, watch) == (0, [])


def test_a_new_edited_row_is_found_at_once(pg_engine: Engine) -> None:
    watch = AuditWatch(full_every=10)
    _write(pg_engine, 10)
    assert _rows_read(pg_engine, watch)[1] == []
    _write(pg_engine, 3, start=10)
    _tamper(pg_engine, 12)
    read, findings = _rows_read(pg_engine, watch)
    assert read == 3 and len(findings) == 1 and "row 12" in findings[0]


def test_an_old_edit_is_found_by_the_next_full_run_and_kept_until_mended(
    pg_engine: Engine,
) -> None:
    watch = AuditWatch(full_every=3)
    _write(pg_engine, 10)
    assert _rows_read(pg_engine, watch)[1] == []  # run 0: full
    _tamper(pg_engine, 2)
    assert _rows_read(pg_engine, watch)[1] == []  # runs 1, 2: only new rows
    assert _rows_read(pg_engine, watch)[1] == []
    assert "row 2" in _rows_read(pg_engine, watch)[1][0]  # run 3: full again
    # Broken: every run looks at the whole window until it is mended.
    assert _rows_read(pg_engine, watch)[0] == 10
    with session_scope(pg_engine) as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == 2).values(actor="test"))
    assert _rows_read(pg_engine, watch) == (10, [])
    assert _rows_read(pg_engine, watch) == (0, [])


def test_a_row_committed_late_below_the_verified_id_is_no_break(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction draws its row's id, then commits after a run has verified higher ids
    (another chain's): the next rows on its chain follow it, and no run calls that a break."""
    monkeypatch.setenv("RECALL_AUDIT_CHAINS", "2")
    get_settings.cache_clear()
    watch = AuditWatch(full_every=1000)
    _write(pg_engine, 3)
    written, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with session_scope(pg_engine) as session:
            audit.record(session, actor="slow", action="case.changed", entity="case:s", data={})
            written.set()
            release.wait(30)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    written.wait(30)
    _write(pg_engine, 2, start=3)  # higher ids, another chain (the slow one holds its own)
    assert _rows_read(pg_engine, watch)[1] == []
    release.set()
    writer.join()
    for n in range(50):  # later rows, until one lands on the slow writer's chain
        _write(pg_engine, 1, start=10 + n)
        if {row.actor for row in _chain_of_newest(pg_engine)} >= {"slow", "test"}:
            break
    else:
        raise AssertionError("no later row on the slow writer's chain")
    assert _rows_read(pg_engine, watch)[1] == []
    with session_scope(pg_engine) as session:
        assert audit.verify(session).ok
    get_settings.cache_clear()


def _chain_of_newest(engine: Engine) -> list[AuditEvent]:
    """The rows of the chain the newest row is on."""
    with session_scope(engine) as session:
        newest = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert newest is not None
        return list(session.scalars(select(AuditEvent).where(AuditEvent.chain == newest.chain)))
