"""Shared by the command modules: where output goes and how a command fails."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from pipeline.errors import InputError, InputErrors

# Progress and diagnostics go to stderr so `--json` output on stdout stays machine-readable.
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


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
