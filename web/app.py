"""The web application. Handlers are thin: verify, store, enqueue, render."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from pipeline.settings import Settings, get_settings
from web import api, auth, dashboard, health, links, prometheus, webhooks
from web.deps import dispose_ingest_engine
from web.errors import install_error_handlers


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    dispose_ingest_engine(app.state)


def create_app(*, settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app. ``settings``/``engine`` default to the process's own (tests pass theirs)."""
    app = FastAPI(
        title="recall",
        description="Mass recall notification: webhooks, dashboard, API.",
        lifespan=_lifespan,
    )
    app.state.settings = settings or get_settings()
    app.state.engine = engine  # None: built from settings on first use
    install_error_handlers(app)
    auth.install(app)  # sessions, login/logout, the redirect for anonymous page views
    dashboard.install(app)
    for router in (webhooks.router, links.router, health.router, api.router, prometheus.router):
        app.include_router(router)
    app.add_middleware(prometheus.WebhookLatencyMiddleware)
    return app
