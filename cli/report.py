"""`recall report CAMPAIGN_ID --format csv|html|json`: per-case outcomes (contact data
masked) and the summary metrics; html is the final report, json its figures for tools."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from cli._console import campaign_id_argument


class ReportFormat(StrEnum):
    csv = "csv"
    html = "html"
    json = "json"


def report_command(
    campaign_id: int = campaign_id_argument(),
    fmt: ReportFormat = typer.Option(ReportFormat.csv, "--format", "-f", help="csv, html or json."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report here instead of standard output."
    ),
) -> None:
    """Write a campaign's report: each case's outcome with masked contact data, and the summary."""
    # Imported here so `recall --help` does not load the database layer.
    from pipeline.db import session_scope
    from pipeline.errors import NotFound
    from pipeline.reporting.report import render_report

    try:
        with session_scope() as session:
            text = render_report(session, campaign_id, fmt.value)
    except NotFound as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        typer.echo(f"error: cannot write {output}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
