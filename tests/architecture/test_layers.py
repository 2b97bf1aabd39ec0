"""No arrow points upward: the domain core (``pipeline/``) imports none of the layers built
on it — ``actors/``, ``web/``, ``schedules/``, ``cli/`` — and no channel adapter; it knows
channels only through its own port (``pipeline.channel_port``). Every import statement is
walked, including those inside functions and under ``TYPE_CHECKING``, because a lazy import
is still an arrow."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
CORE = "pipeline"
# Layers above the core, and the adapters' package: the core may import nothing from them.
FORBIDDEN = ("actors", "web", "schedules", "cli", "channels")


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def upward(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top in FORBIDDEN


def core_files() -> list[Path]:
    return sorted(p for p in (ROOT / CORE).rglob("*.py") if "migrations" not in p.parts)


def arrows_up() -> list[str]:
    found = []
    for path in core_files():
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if upward(module):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_the_core_imports_no_layer_above_it_and_no_channel_adapter() -> None:
    assert core_files(), "the walk found no core modules: the layout moved"
    assert arrows_up() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import actors.case", ["actors.case"]),
        ("from web.app import app", ["web.app"]),
        ("def f():\n    from channels.sms import SmsChannel", ["channels.sms"]),
        ("if TYPE_CHECKING:\n    from schedules import jobs", ["schedules"]),
        ("from cli.main import app", ["cli.main"]),
        ("from pipeline.models import Case", []),
        ("import actorsish", []),
    ],
)
def test_the_walk_sees_every_kind_of_upward_import(source: str, expected: list[str]) -> None:
    assert [m for _, m in imported_modules(source) if upward(m)] == expected


@given(st.sampled_from(FORBIDDEN), st.from_regex(r"[a-z_]{1,10}", fullmatch=True))
def test_any_module_below_a_forbidden_package_counts_as_upward(top: str, rest: str) -> None:
    assert upward(f"{top}.{rest}")
    assert not upward(f"{top}{rest}.x") or f"{top}{rest}" in FORBIDDEN


# What an adapter must not read: ORM rows and the notice templates. The core renders the
# message and hands the adapter an ``Outbound`` (``pipeline.channel_port``).
ADAPTER_FORBIDDEN = ("pipeline.models", "pipeline.notices")


def adapter_arrows() -> list[str]:
    found = []
    for path in sorted((ROOT / "channels").glob("*.py")):
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.startswith(ADAPTER_FORBIDDEN):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_adapters_get_a_rendered_message_not_rows_or_templates() -> None:
    assert (ROOT / "channels" / "sms.py").exists(), "the walk found no adapters: the layout moved"
    assert adapter_arrows() == []


def test_the_scheduler_imports_nothing_of_the_web() -> None:
    """The scheduler runs without the web app: what both need (the webhook buffer) sits
    below them, in ``actors/`` or the core."""
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "schedules").rglob("*.py"))
        for line, module in imported_modules(path.read_text(encoding="utf-8"))
        if module.split(".", 1)[0] == "web"
    ]
    assert found == []
