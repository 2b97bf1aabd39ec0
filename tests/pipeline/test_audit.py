"""The hash-chained audit log: intact chains verify, edits/deletions/insertions are found,
and concurrent writers keep one chain."""

from __future__ import annotations

import itertools
import threading

from sqlalchemy import Engine, text

from pipeline import audit
from pipeline.db import session_scope
from pipeline.models import AuditEvent


def _write(engine: Engine, count: int, actor: str = "test") -> None:
    for n in range(count):
        with session_scope(engine) as session:
            audit.record(
                session, actor=actor, action="case.agree", entity=f"case:{n}", data={"n": n}
            )


def _verify(engine: Engine) -> audit.AuditReport:
    with session_scope(engine) as session:
        return audit.verify(session)


def test_intact_chain_verifies(engine: Engine) -> None:
    _write(engine, 5)
    report = _verify(engine)
    assert report.ok and report.checked == 5 and report.first_bad_id is None
    with session_scope(engine) as session:
        rows = session.query(AuditEvent).order_by(AuditEvent.id).all()
        assert rows[0].prev_hash == audit.GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
        assert report.head_hash == rows[-1].hash


def test_empty_log_verifies(engine: Engine) -> None:
    assert _verify(engine) == audit.AuditReport(True, 0)


def test_record_masks_personal_data(engine: Engine) -> None:
    with session_scope(engine) as session:
        event = audit.record(
            session,
            actor="ops",
            action="case.view",
            entity="case:1",
            data={"note": "called +14155554567", "who": {"email": "ann@example.com"}},
        )
    assert event.data == {"note": "called +1******4567", "who": {"email": "a***@e***.com"}}
    assert _verify(engine).ok


def test_edit_is_found(engine: Engine) -> None:
    _write(engine, 5)
    with engine.begin() as conn:
        third = conn.execute(text("SELECT id FROM audit_event ORDER BY id LIMIT 1 OFFSET 2")).one()
        conn.execute(
            text("UPDATE audit_event SET actor = 'mallory' WHERE id = :id"), {"id": third.id}
        )
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == third.id and report.checked == 2
    assert "edited" in (report.reason or "")


def test_edit_of_data_json_is_found(engine: Engine) -> None:
    _write(engine, 3)
    with engine.begin() as conn:
        conn.execute(text("""UPDATE audit_event SET data = '{"n": 99}' WHERE id = 2"""))
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == 2


def test_deletion_is_found(engine: Engine) -> None:
    _write(engine, 5)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = 3"))
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == 4
    assert "deleted or inserted" in (report.reason or "")


def test_insertion_is_found(engine: Engine) -> None:
    _write(engine, 3)
    with session_scope(engine) as session:
        second = session.get(AuditEvent, 2)
        assert second is not None
        forged = AuditEvent(
            id=100,
            at=second.at,
            actor="mallory",
            action="case.agree",
            entity="case:9",
            data={},
            prev_hash=second.hash,
            hash="f" * 64,
        )
        session.add(forged)
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == 100


def _concurrent_writers(engine: Engine, threads: int, each: int) -> None:
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            _write(engine, each, actor=f"worker-{worker}")
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors


def test_concurrent_writers_keep_one_chain_on_postgres(pg_engine: Engine) -> None:
    _concurrent_writers(pg_engine, threads=8, each=25)
    report = _verify(pg_engine)
    assert report.ok, report
    assert report.checked == 200


def test_concurrent_writers_keep_one_chain_on_sqlite(sqlite_engine: Engine) -> None:
    _concurrent_writers(sqlite_engine, threads=4, each=15)
    report = _verify(sqlite_engine)
    assert report.ok, report
    assert report.checked == 60


def test_forked_chain_is_found(pg_engine: Engine) -> None:
    """The chain check itself notices two rows claiming the same predecessor."""
    _write(pg_engine, 2)
    with pg_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_event (at, actor, action, entity, data, prev_hash, hash) "
                "SELECT at, actor, action, entity, data, prev_hash, :h FROM audit_event "
                "WHERE id = 2"
            ),
            {"h": "e" * 64},
        )
    report = _verify(pg_engine)
    assert not report.ok and report.first_bad_id == 3


def test_record_access_names_fields_not_values(engine: Engine) -> None:
    with session_scope(engine) as session:
        event = audit.record_access(
            session,
            actor="ops:amy",
            entity="case:7",
            purpose="call back",
            fields=["phone", "email"],
        )
    assert event.action == "personal_data.view"
    assert event.data == {"purpose": "call back", "fields": ["email", "phone"]}
    assert _verify(engine).ok
