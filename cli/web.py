"""``recall web``: serve the FastAPI app (webhooks, response links, dashboard, API)."""

from __future__ import annotations

import os

import typer

from pipeline.settings import get_settings


def web(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port to listen on."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes; the app is stateless, so scale freely."
    ),
    access_log: bool = typer.Option(
        False, "--access-log/--no-access-log", help="Log every request, masked (off: faster)."
    ),
) -> None:
    """Serve the web app with uvicorn. Providers must reach it at RECALL_PUBLIC_URL."""
    import uvicorn

    from cli._guard import refuse_unsafe_settings

    refuse_unsafe_settings(get_settings())
    if access_log:
        # Read by each worker process's app (web.access_log): uvicorn's own access log
        # would print response-link tokens.
        os.environ["RECALL_ACCESS_LOG"] = "true"
        get_settings.cache_clear()
    uvicorn.run(
        "web.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=get_settings().log_level.lower(),
        # Providers and proxies keep connections open; answer them, do not drop them.
        timeout_keep_alive=30,
    )


def register(app: typer.Typer) -> None:
    app.command("web")(web)
