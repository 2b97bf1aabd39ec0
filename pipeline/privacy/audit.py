"""The append-only, hash-chained audit log, kept as several independent chains.

Each row's ``hash`` is HMAC-SHA256 over the canonical JSON of its content (time, actor,
action, entity, data), its chain number and the hash of the row before it on the same chain,
so changing a row, moving it to another chain, deleting one or slipping one in breaks that
chain from that row on, and ``verify`` names the first bad row. The HMAC's key comes from
``RECALL_AUDIT_KEY`` (else ``RECALL_SECRET_KEY``), never from the database: someone who can
write to the database but does not hold the key cannot re-hash a chain they altered.

Why several chains: a chain is only a chain if its writers take turns — the head is read and
the new row appended under a lock held until the writer commits. Every case event writes an
audit row, so with one chain every worker transaction touching a case queued for that one
lock. With ``RECALL_AUDIT_CHAINS`` chains (default 16) that many transactions append at once.
The hashes order events within a chain only; across chains ``id`` and ``at`` give the order.

Why one chain per transaction: a transaction picks its chain at its first ``record`` and
writes every later record there, so it holds at most one chain lock and two transactions can
never deadlock on audit locks. On PostgreSQL the chain is a transaction-scoped advisory lock
(``CHAIN_LOCK_BASE + chain``), tried without waiting from a random chain round all of them;
only when every chain is busy does the writer wait, for its first choice. Later records append
to the head the transaction wrote itself, with neither a lock request nor a head query (one
INSERT each, which is what makes a transaction handling a group of cases cheap). Any rollback,
a savepoint's too, makes the transaction forget that head: rolling back a savepoint takes back
its rows and releases a lock first taken inside it, so the next record asks for the lock again
(a no-op while it is held) and reads the head afresh.

Why a chain stays in commit order: the lock is released only when its holder commits (or rolls
back), and the next holder reads the chain's head after taking it — under READ COMMITTED (the
default; a snapshot taken before the lock, as in REPEATABLE READ, would miss the head) that
read sees the row just committed. The new row's id is drawn while the lock is held, so on each
chain id order is commit order, which is the order ``verify`` walks.

SQLite has one writer at a time: ``record`` makes its transaction a writing one before reading
the head, so a second writer waits instead of forking, and every row goes on chain 0.

What ``verify`` checks: it reads the log once in id order and checks each row against the row
before it on its own chain: its hash must match its content and chain number (else the row was
edited or moved) and its ``prev_hash`` must be that row's hash, or all zeros for a chain's first
row (else a row was deleted or inserted). Deleting a chain's newest rows, or a whole chain,
leaves shorter valid chains; to catch that, keep the report's heads somewhere else. ``head_hash``
is one value for the whole log: sha256 over one line ``"<chain> <head hash>\\n"`` per chain that
holds rows, in chain order (all zeros for an empty log); ``chain_heads`` has each chain's head,
and each of those must still be on its chain later.

Audit data must never hold a full phone number, email or message text: the log cannot be
edited, so it cannot be erased either. ``record`` masks any that slip in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Row, event, func, insert, literal, select
from sqlalchemy.orm import Session, SessionTransaction

from pipeline.clock import as_utc, utcnow
from pipeline.db import take_write_turn
from pipeline.models import AuditEvent
from pipeline.privacy.masking import mask_value
from pipeline.settings import get_settings

GENESIS_HASH = "0" * 64
# Any fixed 64-bit number: chain c's advisory lock on a PostgreSQL database is BASE + c.
CHAIN_LOCK_BASE = 0x72656361_6C6C0A01
# session.info key: this transaction's ``_Turn``, so a later record in the same transaction
# finds its chain (and head) and a new transaction does not inherit it.
_CHAIN_INFO_KEY = "recall.audit_chain"


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None
    # sha256 over the chains' heads (see the module docstring); all zeros for an empty log.
    head_hash: str = GENESIS_HASH
    first_bad_chain: int | None = None
    # chain → the hash of its newest row (verified so far, when the log is broken)
    chain_heads: Mapping[int, str] = field(default_factory=dict)

    @property
    def chains(self) -> int:
        """How many chains hold rows (that were checked, when the log is broken)."""
        return len(self.chain_heads)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@lru_cache(maxsize=4)
def _derive_key(secret: str) -> bytes:
    # Its own derivation, so the audit key never equals the key that signs response links.
    return hashlib.sha256(b"recall audit chain\0" + secret.encode()).digest()


def audit_key() -> bytes:
    """The HMAC key of the chain hashes, from settings (see the module docstring)."""
    settings = get_settings()
    return _derive_key(settings.audit_key or settings.secret_key)


def chain_hash(
    *,
    chain: int,
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    data: Mapping[str, Any],
    key: bytes | None = None,
) -> str:
    content = {
        "chain": chain,
        "prev_hash": prev_hash,
        "at": as_utc(at).isoformat(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "data": data,
    }
    message = canonical_json(content).encode()
    return hmac.new(audit_key() if key is None else key, message, hashlib.sha256).hexdigest()


def combined_head(chain_heads: Mapping[int, str]) -> str:
    """One value for the whole log: sha256 over ``"<chain> <head hash>\\n"`` per chain, in
    chain order; all zeros when there are no rows."""
    if not chain_heads:
        return GENESIS_HASH
    lines = "".join(f"{chain} {chain_heads[chain]}\n" for chain in sorted(chain_heads))
    return hashlib.sha256(lines.encode()).hexdigest()


def _lock_chain(session: Session, chain: int) -> None:
    """Wait for the chain's lock (held until this transaction ends)."""
    key = literal(CHAIN_LOCK_BASE + chain, BigInteger)
    session.execute(select(func.pg_advisory_xact_lock(key)))


def _try_lock_chain(session: Session, chain: int) -> bool:
    key = literal(CHAIN_LOCK_BASE + chain, BigInteger)
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(key))))


def _claim_chain(session: Session, chains: int) -> int:
    """Lock a chain no one is writing to, starting at a random one so writers spread out; if
    every chain is busy, wait for the first choice."""
    first = random.randrange(chains)
    for offset in range(chains):
        chain = (first + offset) % chains
        if _try_lock_chain(session, chain):
            return chain
    _lock_chain(session, first)
    return first


@dataclass
class _Turn:
    """This transaction's turn on its chain: the chain, and the chain's head while it is
    known to be current (this transaction wrote it, under the chain's lock)."""

    transaction: SessionTransaction | None
    chain: int
    head: str | None = None


def _writer_turn(session: Session) -> _Turn:
    """Hold this transaction's chain until it ends (see the module docstring)."""
    root = session.get_transaction()
    turn = session.info.get(_CHAIN_INFO_KEY)
    if isinstance(turn, _Turn) and turn.transaction is root:
        if turn.head is None:
            # The head was forgotten: first record, or a savepoint rolled back, which frees
            # a lock first taken inside it. Asking again is a no-op while it is held.
            _relock(session, turn.chain)
        return turn
    if session.get_bind().dialect.name != "postgresql":
        # The write turn before the head is read, so two writers cannot both read the same
        # head; one writer, one chain.
        take_write_turn(session)
        chain = 0
    else:
        chain = _claim_chain(session, get_settings().audit_chains)
    turn = _Turn(session.get_transaction(), chain)
    session.info[_CHAIN_INFO_KEY] = turn
    return turn


def _relock(session: Session, chain: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        _lock_chain(session, chain)
    else:
        take_write_turn(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_head(session: Session, previous_transaction: SessionTransaction) -> None:
    """Any rollback — a savepoint's too — may take back rows this transaction appended, and
    the lock with them: the next record reads the head again, under the lock."""
    turn = session.info.get(_CHAIN_INFO_KEY)
    if isinstance(turn, _Turn):
        turn.head = None


def _head_hash(session: Session, chain: int) -> str:
    head = session.scalar(
        select(AuditEvent.hash)
        .where(AuditEvent.chain == chain)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return head or GENESIS_HASH


def record(
    session: Session, *, actor: str, action: str, entity: str, data: Mapping[str, Any]
) -> AuditEvent:
    """Append one event to this transaction's chain (written now, committed by the caller).

    The first record of a transaction takes a chain and reads its head; later ones append
    to the head they wrote themselves, one INSERT each, with no lock or head query: in a
    transaction that handles a group of cases that is most of the audit's cost."""
    # Round-trip through JSON so what is stored is exactly what was hashed.
    safe = json.loads(canonical_json(mask_value("data", dict(data))))
    turn = _writer_turn(session)
    if turn.head is None:
        # A statement of its own, after the lock: its snapshot then includes the previous
        # holder's committed row (a query taking the lock and reading the head at once would
        # not).
        turn.head = _head_hash(session, turn.chain)
    prev_hash = turn.head
    # Microseconds only: PostgreSQL and SQLite both keep them, nothing finer.
    at = utcnow()
    digest = chain_hash(
        chain=turn.chain, prev_hash=prev_hash, at=at, actor=actor, action=action,
        entity=entity, data=safe,
    )  # fmt: skip
    values = {
        "chain": turn.chain, "at": at, "actor": actor, "action": action, "entity": entity,
        "data": safe, "prev_hash": prev_hash, "hash": digest,
    }  # fmt: skip
    # Core, not the unit of work: the row is final, and nothing else in the session needs it.
    row_id = session.execute(
        insert(AuditEvent).values(**values).returning(AuditEvent.id)
    ).scalar_one()
    turn.head = digest
    return AuditEvent(id=row_id, **values)


def record_access(
    session: Session, *, actor: str, entity: str, purpose: str, fields: list[str]
) -> AuditEvent:
    """Someone was shown personal data in full (``fields`` names which, never the values)."""
    data = {"purpose": purpose, "fields": sorted(fields)}
    return record(session, actor=actor, action="personal_data.view", entity=entity, data=data)


_COLUMNS = (
    AuditEvent.id, AuditEvent.chain, AuditEvent.at, AuditEvent.actor, AuditEvent.action,
    AuditEvent.entity, AuditEvent.data, AuditEvent.prev_hash, AuditEvent.hash,
)  # fmt: skip


def _rows(session: Session, batch: int = 1000) -> Iterator[Row[Any]]:
    """Plain rows in id order, a batch at a time (no ORM objects: a million-row log must not
    fill the caller's session)."""
    last_id = 0
    while True:
        rows = session.execute(
            select(*_COLUMNS).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def _check(row: Row[Any], prev_hash: str, key: bytes) -> str | None:
    expected = chain_hash(
        chain=row.chain, prev_hash=row.prev_hash, at=row.at, actor=row.actor, action=row.action,
        entity=row.entity, data=row.data, key=key,
    )  # fmt: skip
    if expected != row.hash:
        return (
            "content does not match its hash (row was edited or moved to another chain, "
            "or written with another audit key)"
        )
    if row.prev_hash != prev_hash:
        return (
            "prev_hash does not match the row before it on its chain "
            "(a row was deleted or inserted)"
        )
    return None


def verify(session: Session) -> AuditReport:
    """Walk the log in id order, checking each row against the row before it on its own
    chain (so every chain is walked in id order); report the first row that breaks one."""
    heads: dict[int, str] = {}
    checked, key = 0, audit_key()
    for row in _rows(session):
        reason = _check(row, heads.get(row.chain, GENESIS_HASH), key)
        if reason is not None:
            return AuditReport(
                False, checked, row.id, reason, combined_head(heads), row.chain, heads
            )
        heads[row.chain] = row.hash
        checked += 1
    return AuditReport(True, checked, head_hash=combined_head(heads), chain_heads=heads)
