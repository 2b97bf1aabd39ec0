"""`recall complaints [--since DATE] [--campaign ID] [--json]`: complaint statistics by
period, type, channel and outcome, and the share handled within each deadline."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer

from cli._console import MAX_ID, database_hint, fail, out


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"--since: {value!r} is not a date (write it as YYYY-MM-DD)")


def complaints_command(
    since: str | None = typer.Option(
        None, "--since", help="Only complaints opened on or after this date (YYYY-MM-DD)."
    ),
    campaign: int | None = typer.Option(
        None, "--campaign", min=1, max=MAX_ID, help="Only this campaign's complaints."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Complaint statistics: by week, type, channel and outcome, and deadlines kept."""
    # Imported here so `recall --help` does not load the database layer.
    from sqlalchemy.exc import SQLAlchemyError

    from pipeline.clock import utcnow
    from pipeline.complaints.stats import complaint_stats
    from pipeline.db import session_scope

    start = _since(since)
    try:
        with session_scope() as session:
            stats = complaint_stats(session, utcnow(), since=start, campaign_id=campaign)
    except SQLAlchemyError as error:
        fail(database_hint(error), code=1)
    if as_json:
        typer.echo(json.dumps(stats, indent=2, sort_keys=True))
        return
    for line in text_lines(stats):
        out.print(line, markup=False, soft_wrap=True)


def text_lines(stats: dict[str, Any]) -> list[str]:
    """The figures as a person reads them."""
    lines = [
        f"complaints: {stats['total']} ({stats['open']} open, {stats['closed']} closed, "
        f"{stats['reopened']} reopened, {stats['overdue']} overdue)"
    ]
    for title, key in (("by week", "by_week"), ("by type", "by_type"),
                       ("by channel", "by_channel"), ("by outcome", "by_outcome"),
                       ("by stage", "by_stage")):  # fmt: skip
        counts = ", ".join(f"{name} {count}" for name, count in stats[key].items()) or "none"
        lines.append(f"{title}: {counts}")
    lines.append("within deadline:")
    for name, figures in stats["deadlines"].items():
        share = "—" if figures["share"] is None else f"{figures['share']:.0%}"
        lines.append(f"  {name:<15} {figures['met']}/{figures['due']}  {share}")
    return lines


def register(app: typer.Typer) -> None:
    app.command("complaints")(complaints_command)
