"""`recall scheduler`: the process whose jobs enqueue due escalations, check deadlines and
take metric snapshots. Run several for availability; a Redis lock keeps exactly one active."""

from __future__ import annotations

import typer

from cli._guard import refuse_unsafe_settings
from pipeline.settings import get_settings


def scheduler_command() -> None:
    """Run the scheduler (needs RECALL_BROKER_URL; one of many is active, elected in Redis)."""
    settings = get_settings()
    if not settings.broker_url:
        typer.echo(
            "error: recall scheduler needs RECALL_BROKER_URL (a Redis URL); without a broker, "
            "`recall run CAMPAIGN.yaml --users USERS.csv` runs its own scheduler",
            err=True,
        )
        raise typer.Exit(2)
    refuse_unsafe_settings(settings)
    # Imported here: loading the jobs loads the whole pipeline, which `recall --help` need not.
    from schedules.runner import run_scheduler_process

    run_scheduler_process(settings)


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_command)
