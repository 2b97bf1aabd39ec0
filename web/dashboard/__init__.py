"""The operations dashboard: server-rendered pages behind the login (web.auth)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI) -> None:
    """Mount the vendored static files and every dashboard page."""
    # Imported here: the route modules import web.auth, which imports this package's
    # templating module, so importing them at the top would be circular.
    from web.dashboard import (
        campaigns,
        complaints,
        demands,
        inbox,
        incidents,
        overview,
        queues,
        remedies,
        report,
    )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # demands before inbox: /dashboard/inbox/demands is not a case id.
    modules = (overview, queues, report, campaigns, demands, inbox, complaints, incidents, remedies)
    for module in modules:
        app.include_router(module.router)
    app.include_router(incidents.api_router)
    app.include_router(remedies.api_router)
