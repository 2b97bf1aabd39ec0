from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.cases.states import CaseState
from pipeline.db import engine_for
from pipeline.settings import get_settings

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """RECALL_DATABASE_URL pointing at a migrated SQLite file for this test."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RECALL_DATABASE_URL", url)
    monkeypatch.delenv("RECALL_BROKER_URL", raising=False)
    get_settings.cache_clear()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield url
    engine_for(url).dispose()
    get_settings.cache_clear()


def invoke(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_launch_json_prints_only_the_campaign_id(database: str) -> None:
    result = runner.invoke(
        app,
        [
            "launch",
            str(EXAMPLES / "campaign.yaml"),
            "--users",
            str(EXAMPLES / "users.csv"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"campaign_id": 1}
    assert "cases wait in the database" in result.stderr


def test_launch_with_bad_rows_names_every_line_and_fails(database: str) -> None:
    result = runner.invoke(
        app, ["launch", str(EXAMPLES / "campaign.yaml"), "--users", str(EXAMPLES / "bad_users.csv")]
    )
    assert result.exit_code == 2
    for line in range(3, 12):
        assert f"bad_users.csv:{line}:" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error:")
    assert result.stdout == ""
    status = runner.invoke(app, ["status", "1", "--json"])
    assert status.exit_code == 1 and "does not exist" in status.stderr


def test_launch_skip_invalid(database: str, tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_bytes((EXAMPLES / "bad_users.csv").read_bytes())
    result = runner.invoke(
        app,
        [
            "launch",
            str(EXAMPLES / "campaign.yaml"),
            "--users",
            str(users),
            "--skip-invalid",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "9 bad row(s) skipped" in result.stderr
    assert (tmp_path / "users.rejects.csv").exists()


def test_bad_campaign_file_gives_a_one_line_reason(database: str, tmp_path: Path) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text((EXAMPLES / "campaign.yaml").read_text().replace("product_quality", "oops"))
    result = runner.invoke(app, ["launch", str(campaign), "--users", str(EXAMPLES / "users.csv")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {campaign}:4: reason: Input should be")
    assert len(result.stderr.strip().splitlines()) == 1
    missing = runner.invoke(app, ["launch", str(tmp_path / "none.yaml"), "--users", "x.csv"])
    assert missing.exit_code == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_status_json_and_table(database: str) -> None:
    runner.invoke(
        app, ["launch", str(EXAMPLES / "campaign.yaml"), "--users", str(EXAMPLES / "users.csv")]
    )
    result = runner.invoke(app, ["status", "1", "--json"])
    assert result.exit_code == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status) >= {
        "campaign_id",
        "state",
        "cases",
        "states",
        "rates",
        "responses",
        "channels",
    }
    assert set(status["states"]) == {state.value for state in CaseState}
    assert status["states"]["pending"] == status["cases"] == 32
    table = runner.invoke(app, ["status", "1"])
    assert table.exit_code == 0 and "pending" in table.stdout and "completion" in table.stdout


def test_broker_configured_without_fan_out_actor_says_so(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECALL_BROKER_URL", "redis://127.0.0.1:6379/1")
    get_settings.cache_clear()
    result = runner.invoke(
        app, ["launch", str(EXAMPLES / "campaign.yaml"), "--users", str(EXAMPLES / "users.csv")]
    )
    assert result.exit_code == 0, result.stderr
    assert "campaign.fan_out" in result.stderr


def test_launch_without_migrations_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECALL_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    result = runner.invoke(
        app, ["launch", str(EXAMPLES / "campaign.yaml"), "--users", str(EXAMPLES / "users.csv")]
    )
    get_settings.cache_clear()
    assert result.exit_code == 2 and "recall db upgrade" in result.stderr


def test_json_stdout_is_clean_in_a_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    env.pop("RECALL_BROKER_URL", None)
    recall = [sys.executable, "-m", "cli.main"]
    subprocess.run([*recall, "db", "upgrade"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [
            *recall,
            "launch",
            str(EXAMPLES / "campaign.yaml"),
            "--users",
            str(EXAMPLES / "users.csv"),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"campaign_id": 1}


def test_launch_warns_when_the_sms_notice_runs_past_three_segments(
    database: str, tmp_path: Path
) -> None:
    campaign = tmp_path / "long.yaml"
    long_sms = "{# states: reason, scope, remedy #}Reply YES or NO by {{ deadline }}. " + (
        "Please read this very long notice. " * 20
    )
    text = (EXAMPLES / "campaign.yaml").read_text().split("templates:")[0]
    campaign.write_text(text + f"templates:\n  en:\n    sms: {long_sms.strip()!r}\n")
    result = runner.invoke(
        app, ["launch", str(campaign), "--users", str(EXAMPLES / "users.csv"), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    assert "warning: the en SMS notice: SMS runs to 5 segments" in result.stderr
    # Without its own zh-CN text, the built-in notice carries the long description: UCS-2.
    assert "warning: the zh-CN SMS notice" in result.stderr


def test_follow_stops_once_no_case_is_left_on_the_ladder(database: str) -> None:
    from sqlalchemy import update

    from cli.launch import follow_campaign
    from pipeline.models import Case

    runner.invoke(
        app, ["launch", str(EXAMPLES / "campaign.yaml"), "--users", str(EXAMPLES / "users.csv")]
    )
    engine = engine_for(database)
    with engine.begin() as conn:
        conn.execute(update(Case).values(state="completed"))
    status = follow_campaign(engine, 1, interval=0.01)
    assert status["states"]["completed"] == 32 and status["rates"]["completion"] == 1.0
