"""The web application. Handlers are thin: verify, store, enqueue, render."""

from __future__ import annotations

from fastapi import FastAPI

from web import api, auth, dashboard, prometheus


def create_app() -> FastAPI:
    app = FastAPI(title="recall", description="Mass recall notification: webhooks, dashboard, API.")
    auth.install(app)
    dashboard.install(app)
    app.include_router(api.router)
    app.include_router(prometheus.router)
    app.add_middleware(prometheus.WebhookLatencyMiddleware)
    return app
