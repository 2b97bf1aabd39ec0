"""The production guard every long-running process passes before it starts."""

from __future__ import annotations

import typer

from pipeline.production import refusal_message, unsafe_settings
from pipeline.settings import Settings


def refuse_unsafe_settings(settings: Settings) -> None:
    """Exit with code 2 and one line per setting to fix when the public URL is not loopback
    and a development default (secret key, dashboard users, sandbox credentials) is in use."""
    problems = unsafe_settings(settings)
    if problems:
        typer.echo(refusal_message(problems, settings.public_url), err=True)
        raise typer.Exit(2)
