"""The parts of `recall run` and the CLI's wording that need no running stack."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

from cli._embedded import real_providers, web_port
from cli.launch import cost_with_unit, settle_note
from cli.main import app
from cli.run import find_campaign, log_path_for
from pipeline.db import engine_for
from pipeline.settings import Settings, get_settings

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()
STATES = dict.fromkeys(
    [
        *("pending", "notifying", "awaiting_response", "agreed", "completed", "refused"),
        *("query_open", "opted_out", "unreachable", "cancelled"),
    ],
    0,
)


def status(state: str = "running", **counts: int) -> dict[str, Any]:
    return {
        "state": state,
        "states": {**STATES, **counts},
        "deadline": "2030-06-30T23:59:59+00:00",
    }


def test_the_summary_says_whether_the_campaign_is_finished_and_why_not() -> None:
    assert settle_note(status(completed=3)) == "Finished: every case has reached its outcome."
    assert settle_note(status("closed", pending=2)) == "Finished: the campaign is closed."
    assert settle_note(status(completed=1, awaiting_response=2, notifying=1)) == (
        "Not finished: 3 case(s) are still on the escalation ladder (notifying 1, "
        "awaiting_response 2); run the same command again to carry on."
    )
    assert settle_note(status(completed=1, query_open=2, agreed=1)) == (
        "Finished sending: no case is left on the escalation ladder. Still open: 2 "
        "question(s) wait for an agent's answer (the dashboard's inbox); 1 agreement(s) wait "
        "for the remedy to be confirmed. The campaign stays running until its deadline, "
        "2030-06-30 23:59 UTC."
    )


def test_costs_carry_their_units() -> None:
    assert [
        cost_with_unit("sms", 12),
        cost_with_unit("email", 1),
        cost_with_unit("voice", 4.5),
    ] == [
        "12 segments",
        "1 email",
        "4.5 min",
    ]


def test_providers_are_real_only_once_configured() -> None:
    assert real_providers(Settings()) == set()
    configured = Settings(twilio_auth_token="real-token", sendgrid_api_key="SG.real")
    assert real_providers(configured) == {"twilio", "sendgrid"}
    assert real_providers(Settings(twilio_auth_token="")) == set()  # .env.example's blank


def test_the_web_port_comes_from_the_flag_or_the_public_url() -> None:
    assert web_port(Settings(), None) == 8000
    assert web_port(Settings(public_url="http://127.0.0.1:9123"), None) == 9123
    assert web_port(Settings(public_url="https://recall.example.com"), 0) == 0


def test_the_log_sits_beside_an_sqlite_database() -> None:
    assert log_path_for("sqlite:///recall.db") == "recall.db.log"
    assert log_path_for("postgresql://u@h/db") == "recall-run.log"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RECALL_DATABASE_URL", url)
    monkeypatch.delenv("RECALL_BROKER_URL", raising=False)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield url
    engine_for(url).dispose()
    get_settings.cache_clear()


def test_a_launched_campaign_is_found_by_its_files(database: str, tmp_path: Path) -> None:
    from pipeline.campaigns.launch import files_fingerprint

    campaign, users = EXAMPLES / "campaign.yaml", EXAMPLES / "users.csv"
    result = runner.invoke(app, ["launch", str(campaign), "--users", str(users)])
    assert result.exit_code == 0, result.stderr
    engine = engine_for(database)
    assert find_campaign(engine, files_fingerprint(campaign, users)) == (1, "running")
    changed = tmp_path / "users.csv"
    changed.write_bytes(users.read_bytes() + b"\n")
    assert find_campaign(engine, files_fingerprint(campaign, changed)) is None


def test_resume_without_a_broker_says_where_the_cases_wait(database: str) -> None:
    campaign, users = EXAMPLES / "campaign.yaml", EXAMPLES / "users.csv"
    assert runner.invoke(app, ["launch", str(campaign), "--users", str(users)]).exit_code == 0
    assert runner.invoke(app, ["pause", "1"]).exit_code == 0
    result = runner.invoke(app, ["resume", "1"])
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "campaign 1 resumed; no broker is configured (RECALL_BROKER_URL), so its cases wait "
        "in the database until a pipeline runs: `recall run` with the campaign's files (the "
        "same files resume it), or `recall worker` and `recall scheduler` with "
        "RECALL_BROKER_URL set"
    )


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    context = group.make_context("recall", [], resilient_parsing=True)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, typer.core.TyperGroup):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = sorted(_commands(typer.main.get_command(app)), key=lambda item: item[0])


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=" ".join)
def test_help_is_whole_sentences_without_bool_labels(path: tuple[str, ...]) -> None:
    command = dict(COMMANDS)[path]
    summary = (command.help or "").strip().split("\n\n")[0]
    assert summary.endswith((".", ")")), summary
    for param in command.params:
        text = (getattr(param, "help", None) or "").strip()
        assert not text or text.endswith((".", ")", "]")), f"{param.name}: {text}"
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout


@pytest.mark.parametrize(
    ("users_bytes", "expected"),
    [
        (b"external_id,phone\n1,not a number\n", "2: phone: not a phone number"),
        (b"", "1: the file is empty; expected a header row"),
    ],
)
def test_run_with_bad_input_leaves_no_database_behind(
    users_bytes: bytes, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "own.db"
    monkeypatch.setenv("RECALL_DATABASE_URL", f"sqlite:///{database}")
    get_settings.cache_clear()
    users = tmp_path / "users.csv"
    users.write_bytes(users_bytes)
    try:
        result = runner.invoke(
            app, ["run", str(EXAMPLES / "demo_campaign.yaml"), "--users", str(users)]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert f"{users}:{expected}" in result.stderr
    assert "Traceback" not in result.output
    assert not database.exists()  # nothing written, not even an empty database


def test_run_on_a_busy_port_says_so_before_touching_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "own.db"
    monkeypatch.setenv("RECALL_DATABASE_URL", f"sqlite:///{database}")
    get_settings.cache_clear()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        try:
            result = runner.invoke(
                app,
                [
                    "run",
                    str(EXAMPLES / "demo_campaign.yaml"),
                    "--users",
                    str(EXAMPLES / "users.csv"),
                    "--port",
                    str(port),
                ],
            )
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --port: cannot listen on port {port}: Address already in use (is another "
        "recall running? stop it, or choose another port with --port)"
    )
    assert not database.exists()
