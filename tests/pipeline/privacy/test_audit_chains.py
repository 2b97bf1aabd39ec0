"""Audit writers and chains: a transaction writes to one chain and holds one chain lock;
concurrent writers on PostgreSQL spread over the chains without forking or deadlocking one;
RECALL_AUDIT_CHAINS=1 is the single chain every writer takes in turn."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from pipeline.db import session_factory, session_scope
from pipeline.models import AuditEvent
from pipeline.privacy import audit
from pipeline.settings import get_settings
from tests.pipeline.privacy.test_audit import _holding


@pytest.fixture
def chains(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Call with a number to set RECALL_AUDIT_CHAINS for the test."""

    def use(count: int) -> None:
        monkeypatch.setenv("RECALL_AUDIT_CHAINS", str(count))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def _record(session: Session, actor: str, t: int, n: int) -> AuditEvent:
    data = {"t": t, "n": n}
    return audit.record(session, actor=actor, action="case.agree", entity=f"case:{t}", data=data)


def _concurrent_writers(engine: Engine, threads: int, transactions: int, per: int) -> None:
    """``threads`` writers, each ``transactions`` transactions of ``per`` records, started
    together so their transactions overlap."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run(worker: int) -> None:
        try:
            start.wait()
            for t in range(transactions):
                with session_scope(engine) as session:
                    for n in range(per):
                        _record(session, f"worker-{worker}", t, n)
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors


def _rows(engine: Engine) -> list[AuditEvent]:
    with session_scope(engine) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _verify(engine: Engine) -> audit.AuditReport:
    with session_scope(engine) as session:
        return audit.verify(session)


def _chains_by_transaction(rows: list[AuditEvent]) -> dict[tuple[str, int], set[int]]:
    chains: dict[tuple[str, int], set[int]] = defaultdict(set)
    for row in rows:
        chains[(row.actor, row.data["t"])].add(row.chain)
    return chains


def _advisory_locks_held(session: Session) -> int:
    query = text(
        "SELECT count(*) FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
    )
    return int(session.scalar(query) or 0)


def test_concurrent_writers_on_postgres_spread_over_valid_chains(pg_engine: Engine) -> None:
    assert get_settings().audit_chains == 16
    _concurrent_writers(pg_engine, threads=8, transactions=25, per=2)
    report = _verify(pg_engine)
    assert report.ok, report
    assert report.checked == 400 and report.chains > 1
    rows = _rows(pg_engine)
    assert all(len(used) == 1 for used in _chains_by_transaction(rows).values())


def test_concurrent_writers_on_sqlite_keep_one_chain(sqlite_engine: Engine) -> None:
    _concurrent_writers(sqlite_engine, threads=4, transactions=15, per=1)
    report = _verify(sqlite_engine)
    assert report.ok, report
    assert report.checked == 60 and list(report.chain_heads) == [0]


def test_one_chain_setting_is_the_old_single_chain(
    pg_engine: Engine, chains: Callable[[int], None]
) -> None:
    chains(1)
    _concurrent_writers(pg_engine, threads=4, transactions=10, per=2)
    report = _verify(pg_engine)
    rows = _rows(pg_engine)
    assert report.ok and report.checked == 80 and list(report.chain_heads) == [0]
    assert {row.chain for row in rows} == {0}
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))


def test_a_transaction_writes_one_chain_under_one_lock(pg_engine: Engine) -> None:
    with session_scope(pg_engine) as session:
        events = [_record(session, "test", 0, n) for n in range(5)]
        assert len({event.chain for event in events}) == 1
        assert _advisory_locks_held(session) == 1


def test_a_new_transaction_chooses_its_chain_afresh(
    pg_engine: Engine, chains: Callable[[int], None]
) -> None:
    chains(2)
    with session_factory(pg_engine)() as session:
        first = _record(session, "test", 0, 0).chain
        session.commit()
        with _holding(pg_engine, first):
            # Were the old chain remembered, this would wait for a lock that is never
            # released; the timeout turns that into an error instead of a hung test.
            session.execute(text("SET LOCAL lock_timeout = '10s'"))
            second = _record(session, "test", 1, 0).chain
            session.commit()
    assert second != first
    assert _verify(pg_engine).ok


def test_savepoint_rollback_does_not_leave_the_chain_unlocked(pg_engine: Engine) -> None:
    """A lock first taken inside a savepoint goes when the savepoint is rolled back; the
    next record in the transaction must take it again before it reads the head."""
    with session_scope(pg_engine) as session:
        savepoint = session.begin_nested()
        chain = _record(session, "test", 0, 0).chain
        savepoint.rollback()
        assert _advisory_locks_held(session) == 0
        assert _record(session, "test", 0, 1).chain == chain
        assert _advisory_locks_held(session) == 1
    assert _verify(pg_engine).ok


def _wait_for_a_lock_waiter(engine: Engine) -> None:
    query = text(
        "SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database "
        "WHERE locktype = 'advisory' AND NOT granted AND datname = current_database()"
    )
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while not conn.execute(query).scalar():
            assert time.monotonic() < deadline, "the writer never waited for a chain"
            time.sleep(0.01)


def test_a_writer_waits_when_every_chain_is_busy(
    pg_engine: Engine, chains: Callable[[int], None]
) -> None:
    chains(2)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with session_scope(pg_engine) as session:
                _record(session, "waiter", 0, 0)
        except BaseException as error:
            errors.append(error)

    writer = threading.Thread(target=write)
    with ExitStack() as held:
        for chain in (0, 1):
            held.enter_context(_holding(pg_engine, chain))
        writer.start()
        _wait_for_a_lock_waiter(pg_engine)
    writer.join()
    assert not errors, errors
    report = _verify(pg_engine)
    assert report.ok and report.checked == 1


# One session living through any mix of records, savepoints (released or rolled back),
# commits and rollbacks: the head a transaction remembers must never outlive a rollback.
_OPERATIONS = st.lists(
    st.sampled_from(["record", "record", "savepoint", "rollback_to", "release", "commit",
                     "rollback"]),
    max_size=30,
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=_OPERATIONS)
def test_any_mix_of_savepoints_and_rollbacks_keeps_every_chain_valid(
    pg_engine: Engine, chains: Callable[[int], None], operations: list[str]
) -> None:
    chains(2)
    with pg_engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_event RESTART IDENTITY"))
    kept: list[int] = []  # records committed for good
    levels: list[list[int]] = [[]]  # records of the transaction, then of each open savepoint
    savepoints = []
    with session_factory(pg_engine)() as session:
        for number, operation in enumerate([*operations, "commit"]):
            if operation == "record":
                _record(session, "test", 0, number)
                levels[-1].append(number)
            elif operation == "savepoint":
                savepoints.append(session.begin_nested())
                levels.append([])
            elif operation in ("rollback_to", "release") and savepoints:
                savepoint, written = savepoints.pop(), levels.pop()
                if operation == "release":
                    savepoint.commit()
                    levels[-1].extend(written)
                else:
                    savepoint.rollback()
            elif operation in ("commit", "rollback"):
                session.commit() if operation == "commit" else session.rollback()
                if operation == "commit":
                    kept.extend(number for level in levels for number in level)
                levels, savepoints = [[]], []
    report = _verify(pg_engine)
    assert report.ok, report
    assert sorted(row.data["n"] for row in _rows(pg_engine)) == sorted(kept)


def test_later_records_of_a_transaction_read_no_head(pg_engine: Engine) -> None:
    """The first record reads its chain's head; the rest append to the head they wrote."""
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(pg_engine, "before_cursor_execute", seen)
    try:
        with session_scope(pg_engine) as session:
            for n in range(5):
                _record(session, "test", 0, n)
    finally:
        event.remove(pg_engine, "before_cursor_execute", seen)
    head_reads = [s for s in statements if s.lstrip().startswith("SELECT audit_event.hash")]
    inserts = [s for s in statements if s.lstrip().startswith("INSERT INTO audit_event")]
    assert len(head_reads) == 1 and len(inserts) == 5
    assert _verify(pg_engine).ok
