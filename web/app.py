"""The web application. Handlers are thin: verify, store, enqueue, render."""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(title="recall", description="Mass recall notification: webhooks, dashboard, API.")
    return app
