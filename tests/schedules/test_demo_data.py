"""The demo's generated users and campaign are valid inputs for launch."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline import campaign_file, launch
from pipeline.models import Case
from schedules.demo_data import generate_users, write_campaign


def test_users_are_unique_and_varied(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    generate_users(path, 500)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert len(rows) == 500
    assert len({row["external_id"] for row in rows}) == 500
    assert len({row["phone"] for row in rows if row["phone"]}) == sum(1 for r in rows if r["phone"])
    assert all(row["phone"] or row["email"] for row in rows)
    assert {row["risk_tier"] for row in rows} == {"1", "2", "3"}
    assert len({row["timezone"] for row in rows}) > 3


def test_campaign_and_users_launch(tmp_path: Path, sqlite_engine: Engine) -> None:
    write_campaign(tmp_path / "campaign.yaml", wait_seconds=6)
    spec = campaign_file.load_campaign_file(tmp_path / "campaign.yaml")
    assert spec.quiet_hours is None
    assert [step["wait_seconds"] for step in spec.policy()["default"]] == [6, 6, 6]
    generate_users(tmp_path / "users.csv", 300)
    campaign_id = launch.launch_campaign(sqlite_engine, spec, tmp_path / "users.csv")
    with Session(sqlite_engine) as session:
        cases = session.scalar(select(func.count()).where(Case.campaign_id == campaign_id))
    assert cases == 300  # every generated row was valid
