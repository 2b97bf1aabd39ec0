"""Shared by the command modules: where output goes and how a command fails."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console

from pipeline.errors import InputError, InputErrors

# Progress and diagnostics go to stderr so `--json` output on stdout stays machine-readable.
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


# Ids are positive 64-bit integers in every table; anything else is refused alike by every
# command, before the database is asked.
MAX_ID = 2**63 - 1


def campaign_id_argument() -> Any:
    """The CAMPAIGN_ID argument, the same for every command that takes one."""
    return typer.Argument(
        ..., min=1, max=MAX_ID, help="The campaign's id, as printed by `recall launch`."
    )


def first_line(error: BaseException) -> str:
    """An error's message, first line only: the rest is a traceback's business."""
    return (str(error).strip().splitlines() or [repr(error)])[0]


def database_hint(error: Exception) -> str:
    """The first line of a database error and what to do about it."""
    text = first_line(error)
    missing = "no such table" in text or ("relation" in text and "does not exist" in text)
    hint = (
        "run `recall db upgrade` first"
        if missing
        else ("is the database running, and RECALL_DATABASE_URL right?")
    )
    return f"database error: {text} ({hint})"


def fail(reason: str, code: int = 2) -> NoReturn:
    """End the command with a one-line reason on stderr and a non-zero exit code."""
    err.print(f"[bold red]error:[/] {reason}", soft_wrap=True)
    raise typer.Exit(code)


def fail_input(error: InputError | InputErrors) -> NoReturn:
    """Every problem on its own line, then the one-line summary last."""
    if isinstance(error, InputErrors) and len(error.errors) == 1:
        error = error.errors[0]
    if isinstance(error, InputErrors):
        for item in error.errors:
            err.print(f"  {item.describe()}", markup=False, soft_wrap=True)
        fail(error.summary)
    fail(error.describe())


def check_settings() -> None:
    """Read the settings (environment and .env) once, up front: a bad value is one line
    naming the variable, not a traceback from deep inside the first command to read it."""
    from pydantic import ValidationError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from pipeline.db import normalise_url
    from pipeline.settings import get_settings

    try:
        settings = get_settings()
    except ValidationError as error:
        problems = [
            f"RECALL_{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        ]
        fail("; ".join(problems) + " (fix the environment variable or .env)")
    try:
        make_url(normalise_url(settings.database_url))
    except ArgumentError:
        fail(
            f"RECALL_DATABASE_URL: {settings.database_url[:60]!r} is not a database URL "
            "(write it like sqlite:///recall.db or postgresql://user@host/db)"
        )
