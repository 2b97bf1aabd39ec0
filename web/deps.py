"""What handlers need from the app: its settings and its database engine.

Both hang off ``app.state`` (set by ``create_app``) so a test can build an app over its own
database and settings without touching the process-wide ones.
"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.requests import Request

from pipeline.db import engine_for
from pipeline.settings import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        engine = engine_for(settings_of(request).database_url)
        request.app.state.engine = engine
    return engine
