"""Entry point of the `recall` command.

Each command group lives in its own module under ``cli/`` and exposes
``register(app)``; this module finds them, so adding a command touches one file.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import cli

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


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        if module_info.name == "main" or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cli.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()

if __name__ == "__main__":
    app()
