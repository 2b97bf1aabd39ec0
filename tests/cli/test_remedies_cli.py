"""`recall remedies import`: applies a good file, refuses a bad one whole (exit 2, one
located line per problem, nothing written), and with --skip-invalid writes the rejects
beside it and applies the rest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.db import engine_for
from pipeline.settings import get_settings

runner = CliRunner()
CAMPAIGN = """\
name: Kettle recall
reason: product_quality
description: Kettles can overheat.
remedy: Bring it to a service centre.
deadline: 2030-12-31
completion: on_remedy
remedy_reminder: 3d
satisfaction: true
escalation:
  - {channel: sms, wait: 24h}
"""
USERS = "external_id,phone\n" + "".join(f"u{n},+1415555{n:04d}\n" for n in range(1, 5))


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("RECALL_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("RECALL_BROKER_URL", raising=False)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield path
    engine_for(f"sqlite:///{path}").dispose()
    get_settings.cache_clear()


@pytest.fixture
def campaign_id(database: Path, tmp_path: Path) -> int:
    (tmp_path / "c.yaml").write_text(CAMPAIGN)
    (tmp_path / "u.csv").write_text(USERS)
    args = ["launch", str(tmp_path / "c.yaml"), "--users", str(tmp_path / "u.csv"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    campaign = int(json.loads(result.stdout.strip().splitlines()[-1])["campaign_id"])
    with sqlite3.connect(database) as db:  # u1 and u2 agreed
        db.execute(
            "UPDATE recall_case SET state='agreed', last_response='agree' WHERE recipient_id IN "
            "(SELECT id FROM recipient WHERE external_id IN ('u1','u2'))"
        )
    return campaign


def _states(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as db:
        return dict(
            db.execute(
                "SELECT r.external_id, c.state FROM recall_case c JOIN recipient r "
                "ON r.id = c.recipient_id"
            ).fetchall()
        )


def _confirmations(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM remedy_confirmation").fetchone()[0])


def _import(campaign_id: int, path: Path, *extra: str) -> object:
    return runner.invoke(app, ["remedies", "import", str(campaign_id), str(path), *extra])


def test_a_good_file_completes_its_cases(database: Path, campaign_id: int, tmp_path: Path) -> None:
    path = tmp_path / "remedies.csv"
    path.write_text("external_id,completed_at,note\nu1,2026-01-05,\nu3,2026-01-06,walk-in\n")
    result = _import(campaign_id, path, "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    counts = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert counts == {
        "applied": 2, "rejected": 0, "completed": 1, "completed_without_agreement": 1,
        "recorded": 0, "already_confirmed": 0,
    }  # fmt: skip
    assert _states(database) == {"u1": "completed", "u2": "agreed", "u3": "completed",
                                 "u4": "pending"}  # fmt: skip
    again = _import(campaign_id, path, "--json")
    assert json.loads(again.stdout)["already_confirmed"] == 2  # type: ignore[attr-defined]
    assert _confirmations(database) == 2
    status = runner.invoke(app, ["status", str(campaign_id), "--json"])
    assert json.loads(status.stdout)["remedies"] == {
        "agreed": 2, "remedied": 2, "remedied_without_agreement": 1, "awaiting": 1, "rate": 0.5,
    }  # fmt: skip
    table = runner.invoke(app, ["status", str(campaign_id)])
    assert "Remedies: 2 agreed → 1 remedied (50.0%), 1 awaiting" in " ".join(table.output.split())


def test_a_bad_file_changes_nothing(database: Path, campaign_id: int, tmp_path: Path) -> None:
    path = tmp_path / "remedies.csv"
    path.write_text("external_id,completed_at\nu1,2026-01-05\nnobody,2026-01-05\nu2,soon\n")
    result = _import(campaign_id, path)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    lines = result.output.splitlines()  # type: ignore[attr-defined]
    assert f"  {path}:3: external_id: no case for 'nobody' in campaign {campaign_id}" in lines
    assert any(line.startswith(f"  {path}:4: completed_at: not a date") for line in lines)
    assert "nothing was imported" in lines[-1]
    assert _confirmations(database) == 0 and _states(database)["u1"] == "agreed"
    assert not (tmp_path / "remedies.rejects.csv").exists()


def test_skip_invalid_applies_the_rest(database: Path, campaign_id: int, tmp_path: Path) -> None:
    path = tmp_path / "remedies.csv"
    path.write_text("external_id,completed_at\nu1,2026-01-05\nnobody,2026-01-05\nu2,soon\n")
    result = _import(campaign_id, path, "--skip-invalid")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "2 bad row(s) skipped" in result.output  # type: ignore[attr-defined]
    rejects = (tmp_path / "remedies.rejects.csv").read_text().splitlines()
    assert rejects[0] == "line,reasons,external_id,completed_at"
    assert rejects[1].startswith("3,") and rejects[1].endswith(",nobody,2026-01-05")
    assert rejects[2].startswith("4,completed_at: not a date")
    assert _states(database)["u1"] == "completed" and _confirmations(database) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999", "{path}"], "campaign 999 does not exist"),
        (["{cid}", "{missing}"], "no such file"),
    ],
)
def test_other_bad_input_is_one_line(
    database: Path, campaign_id: int, tmp_path: Path, args: list[str], message: str
) -> None:
    path = tmp_path / "r.csv"
    path.write_text("external_id,completed_at\nu1,2026-01-05\n")
    filled = [a.format(path=path, cid=campaign_id, missing=tmp_path / "nope.csv") for a in args]
    result = runner.invoke(app, ["remedies", "import", *filled])
    assert result.exit_code in (1, 2) and message in result.output
    assert len(result.output.strip().splitlines()) == 1
