"""Shared request dependencies: settings, a database session per request, the broker's Redis.

Settings and engine hang off ``app.state`` when ``create_app`` was given them (tests build
an app over their own database); otherwise the process's own are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import redis
from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.db import engine_for, session_factory
from pipeline.settings import Settings, get_settings


def settings_of(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


def engine_of(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    if isinstance(engine, Engine):
        return engine
    return engine_for(settings_of(request).database_url)


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
