"""``recall pause|resume|cancel CAMPAIGN_ID``."""

from __future__ import annotations

import getpass

import typer

from cli._console import campaign_id_argument
from cli._roles import require_cli_role


def register(app: typer.Typer) -> None:
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("cancel")(cancel)


CAMPAIGN_ID = campaign_id_argument()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(action: str, campaign_id: int) -> int:
    require_cli_role("operator", action)
    # Imported here so `recall --help` stays fast and needs no database.
    from pipeline.cases import control
    from pipeline.db import session_scope
    from pipeline.errors import RecallError

    try:
        with session_scope() as session:
            return int(getattr(control, action)(session, campaign_id, _actor()) or 0)
    except RecallError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def pause(campaign_id: int = CAMPAIGN_ID) -> None:
    """Stop sending for a running campaign, on every worker, within seconds."""
    _run("pause", campaign_id)
    typer.echo(f"campaign {campaign_id} paused")


def resume(campaign_id: int = CAMPAIGN_ID) -> None:
    """Restart a paused campaign and hand its due cases to the workers."""
    from pipeline.settings import get_settings

    _run("resume", campaign_id)
    if not get_settings().broker_url:
        # An in-process broker would vanish with this command, and its messages with it.
        typer.echo(
            f"campaign {campaign_id} resumed; no broker is configured (RECALL_BROKER_URL), so "
            "its cases wait in the database until a pipeline runs: `recall run` with the "
            "campaign's files (the same files resume it), or `recall worker` and `recall "
            "scheduler` with RECALL_BROKER_URL set"
        )
        return
    from actors.campaign import enqueue_due

    enqueued = enqueue_due(campaign_id=campaign_id)
    typer.echo(f"campaign {campaign_id} resumed; {enqueued} due case(s) enqueued")


def cancel(campaign_id: int = CAMPAIGN_ID) -> None:
    """Cancel a campaign: open cases are closed and never contacted again."""
    cancelled = _run("cancel", campaign_id)
    typer.echo(f"campaign {campaign_id} cancelled; {cancelled} open case(s) cancelled")
