"""Shared request dependencies: a database session per request and the broker's Redis."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import redis
from sqlalchemy.orm import Session

from pipeline.db import session_factory
from pipeline.settings import get_settings


def db_session() -> Iterator[Session]:
    """One session per request; handlers that change rows commit themselves."""
    session = session_factory()()
    try:
        yield session
    finally:
        session.close()


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def broker_redis() -> redis.Redis | None:
    """The Redis the RedisBroker uses; None with the in-process broker (no queues to read)."""
    url = get_settings().broker_url
    return _client(url) if url else None


def namespace() -> str:
    return get_settings().broker_namespace
