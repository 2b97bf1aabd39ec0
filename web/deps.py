"""What handlers need from the app: its settings and its database engines.

Both hang off ``app.state`` (set by ``create_app``) so a test can build an app over its own
database and settings without touching the process-wide ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from sqlalchemy import Engine, create_engine
from starlette.applications import Starlette
from starlette.requests import Request

from pipeline.db import engine_for
from pipeline.settings import Settings

# Webhook ingestion: one writer per web process (web.ingest), so one connection. A database
# host that cannot be reached fails a batch (a 503) within this, instead of TCP's minutes.
INGEST_CONNECT_TIMEOUT_SECONDS = 5


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        engine = engine_for(settings_of(request).database_url)
        request.app.state.engine = engine
    return engine


def ingest_engine(app: Starlette) -> Engine:
    """The engine ``app`` stores webhook events with.

    On PostgreSQL a twin of the main engine in autocommit mode and without pre-ping: the
    store is a single INSERT, so BEGIN/COMMIT and the liveness ping would triple its round
    trips. A connection found dead fails that one batch with a 503 (the providers retry)
    and SQLAlchemy then recycles the pool. Elsewhere, the main engine itself.
    """
    state = app.state
    ingest: Engine | None = getattr(state, "ingest_engine", None)
    if ingest is None:
        engine: Engine | None = state.engine
        if engine is None:
            engine = state.engine = engine_for(state.settings.database_url)
        ingest = engine
        if engine.dialect.name == "postgresql":
            ingest = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                pool_size=1,
                max_overflow=0,
                connect_args={"connect_timeout": INGEST_CONNECT_TIMEOUT_SECONDS},
            )
        state.ingest_engine = ingest
    return ingest


def dispose_ingest_engine(state: object) -> None:
    ingest: Engine | None = getattr(state, "ingest_engine", None)
    if ingest is not None and ingest is not getattr(state, "engine", None):
        ingest.dispose()
    setattr(state, "ingest_engine", None)  # noqa: B010


# Row ids are BIGINT (64-bit signed): a larger number in a URL is a 422 before any query,
# never a driver overflow turned 500.
MAX_ROW_ID = 2**63 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id (1 to 2^63-1)")]
