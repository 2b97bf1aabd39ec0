"""What handlers need from the app: its settings and its database engines.

Both hang off ``app.state`` (set by ``create_app``) so a test can build an app over its own
database and settings without touching the process-wide ones.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from starlette.requests import Request

from pipeline.db import engine_for
from pipeline.settings import Settings

# Webhook ingestion: every store is one statement, at hundreds per second.
INGEST_POOL_SIZE = 10
INGEST_MAX_OVERFLOW = 10


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        engine = engine_for(settings_of(request).database_url)
        request.app.state.engine = engine
    return engine


def ingest_engine_of(request: Request) -> Engine:
    """The engine webhooks store events with.

    On PostgreSQL a twin of the main engine in autocommit mode and without pre-ping: the
    store is a single INSERT, so BEGIN/COMMIT and the liveness ping would triple its round
    trips. A connection found dead fails that one request with a 503 (the provider
    retries) and SQLAlchemy then recycles the pool. Elsewhere, the main engine itself.
    """
    ingest: Engine | None = getattr(request.app.state, "ingest_engine", None)
    if ingest is None:
        engine = engine_of(request)
        ingest = engine
        if engine.dialect.name == "postgresql":
            ingest = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                pool_size=INGEST_POOL_SIZE,
                max_overflow=INGEST_MAX_OVERFLOW,
            )
        request.app.state.ingest_engine = ingest
    return ingest


def dispose_ingest_engine(state: object) -> None:
    ingest: Engine | None = getattr(state, "ingest_engine", None)
    if ingest is not None and ingest is not getattr(state, "engine", None):
        ingest.dispose()
    setattr(state, "ingest_engine", None)  # noqa: B010
