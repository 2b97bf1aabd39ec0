"""Engine and sessions. The same code runs on SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine, Float, Select, cast, create_engine, event, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from pipeline.settings import get_settings


def normalise_url(url: str) -> str:
    """Accept the plain ``postgresql://`` form people paste and use psycopg 3 for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web app read while workers write; the busy timeout makes writers
    # queue up instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


def take_write_turn(session: Session) -> None:
    """SQLite's stand-in for ``SELECT ... FOR UPDATE``: a no-op write makes this transaction
    the writer (SQLite's RESERVED lock) before it reads, so rows read next cannot change
    under it and a second writer waits for its commit instead of acting on the same old
    state. PostgreSQL locks the rows themselves; this does nothing there."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE recall_case SET id = id WHERE 1 = 0"))


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any error."""
    # A plain Session, not one from a new ``sessionmaker``: each sessionmaker makes a Session
    # subclass of its own and SQLAlchemy sets up event dispatch per class, so a fresh one per
    # unit of work cost every transaction on the hot path a few percent of a worker's CPU.
    session = Session(bind=engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dialect_of(session: Session) -> str:
    """``postgresql`` or ``sqlite``: the one question the dialect-specific helpers ask."""
    return session.get_bind().dialect.name


def dialect_insert(table: Any, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` with ``ON CONFLICT`` at hand: both dialects spell it alike, but SQLAlchemy
    keeps it in each dialect's own ``insert``."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


def insert_or_ignore(
    table: Any, dialect: str, index_elements: list[Any]
) -> postgresql.Insert | sqlite.Insert:
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` in the dialect's own words: the
    idempotent insert every store-once row (attempts, follow-ups, webhooks) is written with."""
    return dialect_insert(table, dialect).on_conflict_do_nothing(index_elements=index_elements)


_Query = TypeVar("_Query", bound=Select[Any])


def lock_rows(
    session: Session,
    query: _Query,
    *,
    of: Any = None,
    skip_locked: bool = False,
    no_key: bool = False,
) -> _Query:
    """``query`` as ``SELECT … FOR UPDATE [OF of] [SKIP LOCKED]`` on PostgreSQL (``FOR NO KEY
    UPDATE`` with ``no_key``), and unchanged on SQLite, which has no row locks: there a
    writer serialises with ``take_write_turn`` instead. The one place the row-lock branch is
    written, so every claim and every turn-taking read says the same thing."""
    if dialect_of(session) != "postgresql":
        return query
    return query.with_for_update(of=of, skip_locked=skip_locked, key_share=no_key)


def seconds_between(session: Session, start: Any, end: Any) -> Any:
    """``end - start`` in seconds as a SQL expression: PostgreSQL's interval epoch, SQLite's
    Julian days (its timestamps are text)."""
    if dialect_of(session) == "postgresql":
        return func.extract("epoch", end - start)
    return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
