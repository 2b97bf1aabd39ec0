"""The hash-chained audit log: intact chains verify; edits, deletions, insertions and moves
between chains are found on whichever chain they happen. (Choosing chains and concurrent
writers: test_audit_chains.py.)"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import BigInteger, Engine, func, literal, select, text

from pipeline.db import session_scope
from pipeline.models import AuditEvent
from pipeline.privacy import audit
from pipeline.settings import get_settings


@pytest.fixture
def two_chains(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RECALL_AUDIT_CHAINS", "2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _write(engine: Engine, transactions: int, per_transaction: int = 1) -> None:
    for t in range(transactions):
        with session_scope(engine) as session:
            for n in range(per_transaction):
                audit.record(
                    session, actor="test", action="case.agree", entity=f"case:{t}",
                    data={"t": t, "n": n},
                )  # fmt: skip


@contextmanager
def _holding(engine: Engine, chain: int) -> Iterator[None]:
    """Another transaction holds ``chain``'s lock, so writers meanwhile take another chain."""
    with engine.begin() as conn:
        key = literal(audit.CHAIN_LOCK_BASE + chain, BigInteger)
        conn.execute(select(func.pg_advisory_xact_lock(key)))
        yield


def _verify(engine: Engine) -> audit.AuditReport:
    with session_scope(engine) as session:
        return audit.verify(session)


def _rows(engine: Engine) -> list[AuditEvent]:
    with session_scope(engine) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _by_chain(rows: list[AuditEvent]) -> dict[int, list[AuditEvent]]:
    """Each chain's rows in id order (``rows`` are in id order)."""
    chains: dict[int, list[AuditEvent]] = defaultdict(list)
    for row in rows:
        chains[row.chain].append(row)
    return dict(chains)


def _sql(engine: Engine, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def _forge(
    engine: Engine, *, id: int, chain: int, prev_hash: str, key: bytes | None = None
) -> None:
    """Insert a row whose hash is correct for its content: what someone who holds the audit
    key (by default) would slip in."""
    at = _rows(engine)[0].at
    fields = {"actor": "mallory", "action": "case.agree", "entity": "case:9", "data": {}}
    digest = audit.chain_hash(chain=chain, prev_hash=prev_hash, at=at, key=key, **fields)
    with session_scope(engine) as session:
        session.add(
            AuditEvent(id=id, chain=chain, at=at, prev_hash=prev_hash, hash=digest, **fields)
        )


def test_intact_chains_verify_and_the_head_covers_every_chain(engine: Engine) -> None:
    _write(engine, 6, per_transaction=2)
    report = _verify(engine)
    assert report.ok and report.checked == 12 and report.first_bad_id is None
    rows = _rows(engine)
    by_chain = _by_chain(rows)
    for chain_rows in by_chain.values():
        assert chain_rows[0].prev_hash == audit.GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain_rows))
    assert report.chain_heads == {c: rs[-1].hash for c, rs in by_chain.items()}
    assert report.chains == len(by_chain)
    lines = "".join(f"{c} {by_chain[c][-1].hash}\n" for c in sorted(by_chain))
    assert report.head_hash == hashlib.sha256(lines.encode()).hexdigest()


def test_empty_log_verifies(engine: Engine) -> None:
    report = _verify(engine)
    assert report == audit.AuditReport(True, 0) and report.head_hash == audit.GENESIS_HASH
    assert report.chains == 0


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
    third = _rows(engine)[2]
    _sql(engine, "UPDATE audit_event SET actor = 'mallory' WHERE id = :id", id=third.id)
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == third.id and report.checked == 2
    assert report.first_bad_chain == third.chain and "edited" in (report.reason or "")


def test_edit_of_data_json_is_found(engine: Engine) -> None:
    _write(engine, 3)
    _sql(engine, """UPDATE audit_event SET data = '{"n": 99}' WHERE id = 2""")
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == 2


def test_deletion_is_found_at_the_next_row_of_its_chain(engine: Engine) -> None:
    _write(engine, 3, per_transaction=3)  # one transaction's rows share a chain
    fifth = _rows(engine)[4]
    _sql(engine, "DELETE FROM audit_event WHERE id = :id", id=fifth.id)
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == fifth.id + 1
    assert report.first_bad_chain == fifth.chain
    assert "deleted or inserted" in (report.reason or "")


def test_insertion_with_a_bad_hash_is_found(engine: Engine) -> None:
    _write(engine, 3)
    second = _rows(engine)[1]
    _forge(engine, id=100, chain=second.chain, prev_hash=second.hash)
    _sql(engine, "UPDATE audit_event SET hash = :h WHERE id = 100", h="f" * 64)
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == 100


def test_well_forged_insertion_in_the_middle_of_a_chain_is_found(engine: Engine) -> None:
    _write(engine, 1, per_transaction=3)
    first = _rows(engine)[0]
    _sql(engine, "UPDATE audit_event SET id = id + 10 WHERE id > :id", id=first.id)
    _forge(engine, id=first.id + 5, chain=first.chain, prev_hash=first.hash)
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == first.id + 11 and report.checked == 2
    assert "deleted or inserted" in (report.reason or "")


def test_a_chain_rewritten_without_the_key_is_found(engine: Engine) -> None:
    """Database access is not enough: re-hashing a whole edited chain end to end, as one
    could with a plain hash, fails without the audit key."""
    _write(engine, 1, per_transaction=3)
    rows = _rows(engine)
    prev_hash = audit.GENESIS_HASH
    for row in rows:
        data = {"t": 0, "n": 99} if row is rows[0] else row.data  # the edit being covered up
        digest = audit.chain_hash(
            chain=row.chain, prev_hash=prev_hash, at=row.at, actor=row.actor,
            action=row.action, entity=row.entity, data=data, key=b"a guess",
        )  # fmt: skip
        _sql(engine, "UPDATE audit_event SET data = :d, prev_hash = :p, hash = :h WHERE id = :id",
             d=audit.canonical_json(data), p=prev_hash, h=digest, id=row.id)  # fmt: skip
        prev_hash = digest
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == rows[0].id
    assert "another audit key" in (report.reason or "")


def test_verify_needs_the_key_the_log_was_written_with(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(engine, 2)
    assert _verify(engine).ok
    monkeypatch.setenv("RECALL_AUDIT_KEY", "another key")
    get_settings.cache_clear()
    try:
        assert not _verify(engine).ok
    finally:
        monkeypatch.delenv("RECALL_AUDIT_KEY")
        get_settings.cache_clear()
    assert _verify(engine).ok


def test_forked_chain_is_found(engine: Engine) -> None:
    """Two rows claiming the same predecessor, both with correct hashes."""
    _write(engine, 1, per_transaction=2)
    first, second = _rows(engine)
    _forge(engine, id=second.id + 1, chain=second.chain, prev_hash=first.hash)
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == second.id + 1


def test_moving_a_row_to_another_chain_is_found(engine: Engine) -> None:
    _write(engine, 2, per_transaction=3)
    moved = _rows(engine)[1]
    _sql(engine, "UPDATE audit_event SET chain = :c WHERE id = :id", c=moved.chain + 1, id=moved.id)
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == moved.id
    assert "moved" in (report.reason or "")


def test_moving_a_whole_chain_to_another_number_is_found(engine: Engine) -> None:
    """The chain number is hashed too: without it a chain's rows could be renumbered and
    still link up."""
    _write(engine, 1, per_transaction=2)
    _sql(engine, "UPDATE audit_event SET chain = chain + 1")
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == 1 and "moved" in (report.reason or "")


def test_tampering_is_found_on_each_chain(pg_engine: Engine, two_chains: None) -> None:
    with _holding(pg_engine, 1):
        _write(pg_engine, 1, per_transaction=3)  # chain 0
    with _holding(pg_engine, 0):
        _write(pg_engine, 1, per_transaction=3)  # chain 1
    rows = _rows(pg_engine)
    assert [row.chain for row in rows] == [0, 0, 0, 1, 1, 1]
    assert _verify(pg_engine).chains == 2
    # The second chain's rows come after the whole first chain: a break there is found
    # only if every chain is walked, and it is reported with its own chain.
    _sql(pg_engine, "DELETE FROM audit_event WHERE id = :id", id=rows[4].id)
    report = _verify(pg_engine)
    assert not report.ok and (report.first_bad_id, report.first_bad_chain) == (rows[5].id, 1)
    assert report.checked == 4 and report.chain_heads == {0: rows[2].hash, 1: rows[3].hash}


def test_deleting_a_chains_newest_rows_changes_the_head(
    pg_engine: Engine, two_chains: None
) -> None:
    with _holding(pg_engine, 1):
        _write(pg_engine, 1, per_transaction=2)
    with _holding(pg_engine, 0):
        _write(pg_engine, 1, per_transaction=2)
    kept = _verify(pg_engine)
    _sql(pg_engine, "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    after = _verify(pg_engine)
    assert after.ok and after.head_hash != kept.head_hash
    assert after.chain_heads[0] == kept.chain_heads[0] != after.chain_heads[1]


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
