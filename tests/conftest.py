"""Shared fixtures: a fresh SQLite or PostgreSQL database per test, a Redis db.

Tests that need PostgreSQL or Redis skip on a laptop without them, and fail under CI=true.
Each test session makes its own PostgreSQL database (named after the process), and the
Redis db number comes from RECALL_TEST_REDIS_DB, so parallel runs do not collide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from pipeline.db import make_engine
from pipeline.migrations import create_schema, drop_schema

IN_CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get(
    "RECALL_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_HOST_URL = os.environ.get("RECALL_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("RECALL_TEST_REDIS_DB", "15"))


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message + " (CI=true: integration tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database for this test session, dropped afterwards."""
    name = f"recall_test_{os.getpid()}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # any driver error means "not here"
        unavailable("PostgreSQL", error)
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/recall.db"


def _fresh(url: str) -> Engine:
    engine = make_engine(url)
    drop_schema(engine)
    create_schema(engine)
    return engine


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = _fresh(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    engine = _fresh(pg_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Runs the test once on SQLite and once on PostgreSQL."""
    name = {"sqlite": "sqlite_engine", "postgres": "pg_engine"}[request.param]
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def redis_url() -> Iterator[str]:
    """An empty Redis db for this test."""
    import redis

    url = f"{REDIS_HOST_URL}/{REDIS_DB}"
    try:
        client = redis.Redis.from_url(url)
        client.flushdb()
    except Exception as error:
        unavailable("Redis", error)
    yield url
    client.flushdb()
    client.close()
