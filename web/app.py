"""The web application. Handlers are thin: verify, store, enqueue, render."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from pipeline.privacy.masking import configure_logging, install_masking
from pipeline.settings import Settings, get_settings
from web import api, auth, dashboard, docs, health, links, prometheus, webhooks
from web.access_log import AccessLogMiddleware
from web.deps import dispose_ingest_engine
from web.errors import install_error_handlers
from web.ingest import close_ingestor
from web.limits import RequestLimitsMiddleware
from web.rate_limits import SourceRateLimitMiddleware
from web.satisfaction_links import router as satisfaction_router
from web.security_headers import SecurityHeadersMiddleware


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if getattr(app.state, "own_process", False):
        _freeze_startup_objects()
    yield
    # uvicorn has let in-flight requests finish; anything still waiting is written or failed.
    await close_ingestor(app.state)
    dispose_ingest_engine(app.state)


def _freeze_startup_objects() -> None:
    """Take what startup built (modules, the app, its routes) out of the collector's sight.

    Webhook traffic allocates fast enough to set off a full collection every second or so,
    and traversing the ~180,000 objects startup leaves behind stalled every request in
    flight for ~100 ms: the whole p99 of ``bench/webhooks.py``. Frozen, they are skipped.
    Only for a process of its own: what is frozen is never freed.
    """
    gc.collect()
    gc.freeze()


def create_served_app() -> FastAPI:
    """The app as ``recall web`` serves it: one per uvicorn worker process."""
    settings = get_settings()
    # uvicorn configures only its own loggers: recall's (logins, webhooks) need a handler.
    configure_logging(settings.log_level)
    app = create_app(settings=settings)
    app.state.own_process = True
    return app


def create_app(*, settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app. ``settings``/``engine`` default to the process's own (tests pass theirs)."""
    app = FastAPI(
        title="recall",
        description="Mass recall notification: webhooks, dashboard, API.",
        lifespan=_lifespan,
        # recall reports through /metrics and its logs; FastAPI's OpenTelemetry hooks would
        # only look for providers nobody configures, on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Served by web.docs, behind the login.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_masking()  # uvicorn has configured logging by now: mask what its handlers print
    app.state.settings = settings or get_settings()
    app.state.engine = engine  # None: built from settings on first use
    install_error_handlers(app)
    # Routes match in order, one by one: the webhooks, by far the busiest, come first.
    app.include_router(webhooks.router)
    auth.install(app)  # sessions, login/logout, the redirect for anonymous page views
    dashboard.install(app)
    for router in (links.router, health.router, api.router, prometheus.router, docs.router):
        app.include_router(router)
    app.include_router(satisfaction_router)
    # The last added runs first: headers on every answer, then timing, then the size limits
    # before anything (sessions included) reads the request.
    app.add_middleware(RequestLimitsMiddleware)
    app.add_middleware(
        SourceRateLimitMiddleware,
        links_per_minute=app.state.settings.link_requests_per_minute,
        unsigned_per_minute=app.state.settings.unsigned_webhooks_per_minute,
    )
    app.add_middleware(prometheus.WebhookLatencyMiddleware)
    if app.state.settings.access_log:
        app.add_middleware(AccessLogMiddleware)
    https = app.state.settings.public_url.startswith("https://")
    app.add_middleware(SecurityHeadersMiddleware, https=https)
    return app
