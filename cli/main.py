"""Entry point of the `recall` command. Each command group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="recall",
    help="Mass recall notification: launch a campaign, run the pipeline, watch it complete.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """recall — tell every affected user, collect each answer, prove how far the recall got."""
