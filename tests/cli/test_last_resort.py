"""The last-resort guard: a bug reaches the operator as one line naming a log file with the
traceback (exit 1); input errors keep their own exit code and wording."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cli._last_resort import guarded


def test_an_unexpected_exception_is_one_line_and_a_log_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)

    def buggy() -> None:
        raise KeyError("surprise")

    with pytest.raises(SystemExit) as exited:
        guarded(buggy)
    assert exited.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    match = re.fullmatch(
        r"error: recall failed unexpectedly \(KeyError: 'surprise'\); the traceback is in "
        r"(\S+) — please report it with that file",
        line,
    )
    assert match is not None, line
    log = Path(match.group(1))
    assert log.parent == tmp_path
    assert "Traceback" in log.read_text() and "buggy" in log.read_text()


def test_exits_and_input_errors_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    def usage_error() -> None:
        raise typer.Exit(2)

    with pytest.raises(typer.Exit):
        guarded(usage_error)
    assert capsys.readouterr().err == ""


def test_the_installed_command_runs_behind_the_guard(tmp_path: Path) -> None:
    # A campaign id beyond SQLite's integer range used to be an OverflowError; whatever the
    # database says, the operator sees no traceback.
    env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "status", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode in (1, 2) and len(done.stderr.strip().splitlines()) == 1
