"""Every `recall` command the README shows is one the CLI accepts as written, and every
example file it names exists — so a newcomer copying them gets no usage error."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.core
import typer.main

from cli.main import app

ROOT = Path(__file__).parents[1]
BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line for block in BLOCK.findall(text) for line in block.splitlines()]
    commands = [line.split("  #")[0].split(" # ")[0].strip() for line in lines]
    return [command for command in commands if command.startswith("recall ")]


def parse(argv: list[str]) -> None:
    """Resolve the (sub)command and parse its arguments exactly as the CLI would."""
    command: Any = typer.main.get_command(app)
    name = "recall"
    while isinstance(command, typer.core.TyperGroup) and argv[:1] != ["--help"]:
        name, argv = argv[0], argv[1:]
        context = command.make_context("recall", [], resilient_parsing=True)
        found = command.get_command(context, name)
        assert found is not None, f"no command {name!r}"
        command = found
    if "--help" in argv:
        return
    command.make_context(name, list(argv))


def test_the_readme_shows_the_newcomer_commands() -> None:
    commands = readme_commands()
    assert "recall run examples/demo_campaign.yaml --users examples/users.csv" in commands
    assert "recall --help" in commands


@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_parses_and_its_example_files_exist(command: str) -> None:
    argv = shlex.split(command)[1:]
    parse(argv)
    for word in argv:
        if word.startswith("examples/"):
            assert (ROOT / word).is_file(), word
