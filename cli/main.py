"""Entry point of the `recall` command.

Each command group lives in its own module under ``cli/`` and exposes
``register(app)``; this module finds them, so adding a command touches one file.
``run`` is what the installed ``recall`` script calls: the app behind a last-resort guard.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import typer
import typer.core
import typer.rich_utils

import cli
from cli._console import check_settings, err
from cli._last_resort import guarded

app = typer.Typer(
    name="recall",
    help="Mass recall notification: launch a campaign, run the pipeline, watch it complete.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # No markup: a docstring's line breaks are joined, so help reads as whole sentences.
    rich_markup_mode="markdown",
)


def _flag_type(self: typer.core.TyperOption, ctx: object) -> str | None:
    # typer labels flags "<bool>", yet a flag takes no value: show no type for them.
    if self.is_flag:
        return None
    return _option_type(self, ctx)  # type: ignore[arg-type]


_option_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _one_line_usage_error(error: Any) -> None:
    # A usage mistake is bad input like any other: one line, not a usage banner and a box.
    if type(error).__name__ == "NoArgsIsHelpError":
        return
    ctx = getattr(error, "ctx", None)
    path = ctx.command_path if ctx is not None else "recall"
    message = " ".join(error.format_message().split())
    err.print(f"error: {path}: {message} (see `{path} --help`)", markup=False, soft_wrap=True)


typer.rich_utils.rich_format_error = _one_line_usage_error  # type: ignore[assignment]


@app.callback()
def main() -> None:
    """recall — tell every affected user, collect each answer, prove how far the recall got."""
    check_settings()


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        if module_info.name == "main" or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cli.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def run() -> None:
    """The ``recall`` script: the app, with any unexpected exception turned into one line
    naming the log file that holds the traceback (exit 1). Tests call ``app`` instead, so a
    bug still fails them loudly."""
    guarded(app)


if __name__ == "__main__":
    run()
