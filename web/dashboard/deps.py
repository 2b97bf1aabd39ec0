"""Dashboard request dependencies: a database session per request and the broker's Redis,
both from the app's settings and engine (web.deps)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import redis
from fastapi import Request
from sqlalchemy.orm import Session

from pipeline.db import session_factory
from web.deps import engine_of, settings_of


def db_session(request: Request) -> Iterator[Session]:
    """One session per request; handlers that change rows commit themselves."""
    session = session_factory(engine_of(request))()
    try:
        yield session
    finally:
        session.close()


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def broker_redis(request: Request) -> redis.Redis | None:
    """The Redis the RedisBroker uses; None with the in-process broker (no queues to read)."""
    url = settings_of(request).broker_url
    return _client(url) if url else None


def namespace(request: Request) -> str:
    return settings_of(request).broker_namespace
