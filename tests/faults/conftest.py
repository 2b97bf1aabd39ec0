"""Fixtures for the fault tests: one private PostgreSQL and Redis per session (a test may
kill and restart them), a fresh database and an empty Redis per test, and the stack."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import unavailable
from tests.faults.servers import PrivatePostgres, PrivateRedis, temporary_directory
from tests.faults.stack import FaultStack


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    directory = temporary_directory("recall-faults-pg-")
    try:
        server = PrivatePostgres(directory).init().start()
    except Exception as error:  # no PostgreSQL binaries, or no postgres user
        shutil.rmtree(directory, ignore_errors=True)
        unavailable("a private PostgreSQL server", error)
    yield server
    server.stop("immediate")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    directory = temporary_directory("recall-faults-redis-")
    try:
        server = PrivateRedis(directory).start()
    except Exception as error:
        shutil.rmtree(directory, ignore_errors=True)
        unavailable("a private Redis server", error)
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def stack(
    private_postgres: PrivatePostgres, private_redis: PrivateRedis, tmp_path: Path
) -> Iterator[FaultStack]:
    if private_redis.process is None or private_redis.process.poll() is not None:
        private_redis.start()  # a test before this one may have left it down
    redis.Redis.from_url(private_redis.url).flushall()  # private: nobody else's data
    url = private_postgres.create_database(f"faults_{os.getpid()}")
    running = FaultStack(private_postgres, private_redis, url, tmp_path)
    try:
        yield running
    finally:
        running.stop()
        logs = sorted(tmp_path.glob("*.log"))
        for log in logs:  # kept beside the test's tmp dir; named here for a failing run
            print(f"log: {log}")
