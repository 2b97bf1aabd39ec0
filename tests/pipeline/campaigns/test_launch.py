from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.campaigns.file import CampaignSpec, load_campaign_file
from pipeline.campaigns.launch import launch, launch_campaign
from pipeline.cases.policy import ladder_for
from pipeline.errors import InputErrors
from pipeline.models import Campaign, Case, Recipient

EXAMPLES = Path(__file__).parents[3] / "examples"
HEADER = "external_id,name,phone,email,locale,timezone,risk_tier\n"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign_file(EXAMPLES / "campaign.yaml")


def counts(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Campaign)) or 0,
            session.scalar(select(func.count()).select_from(Recipient)) or 0,
            session.scalar(select(func.count()).select_from(Case)) or 0,
        )


def test_launch_creates_campaign_recipients_and_pending_cases(
    engine: Engine, spec: CampaignSpec
) -> None:
    seen: list[str] = []
    report = launch(
        engine,
        spec,
        EXAMPLES / "users.csv",
        now=NOW,
        batch_size=7,
        progress=lambda phase, done, total: seen.append(phase),
    )
    rows = sum(1 for _ in (EXAMPLES / "users.csv").open()) - 1
    assert report.cases == rows and counts(engine) == (1, rows, rows)
    assert {"validating", "loading", "storing"} <= set(seen)
    with Session(engine) as session:
        campaign = session.get_one(Campaign, report.campaign_id)
        assert campaign.state == "running" and campaign.launched_at == NOW
        assert CampaignSpec.model_validate(campaign.spec) == spec
        assert [s.channel for s in ladder_for(campaign.policy, 1)] == ["sms", "voice", "email"]
        assert campaign.quiet_hours == {"start": "21:00", "end": "08:00"}
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        assert {(c.state, c.step, c.next_due_at) for c in cases} == {("pending", 0, NOW)}
        first = cases[0].recipient
        assert (first.external_id, first.phone) == ("C-100001", "+12125550143")
        li_na = session.scalars(select(Recipient).where(Recipient.external_id == "C-100004")).one()
        assert (li_na.name, li_na.locale, li_na.timezone, li_na.risk_tier) == (
            "李娜",
            "zh-CN",
            "Asia/Shanghai",
            1,
        )


def test_bad_rows_leave_nothing_behind(engine: Engine, spec: CampaignSpec) -> None:
    with pytest.raises(InputErrors) as caught:
        launch_campaign(engine, spec, EXAMPLES / "bad_users.csv")
    assert sorted({e.line for e in caught.value.errors}) == list(range(3, 12))
    assert "nothing was imported" in caught.value.summary
    assert counts(engine) == (0, 0, 0)


def test_failure_while_storing_rolls_everything_back(engine: Engine, spec: CampaignSpec) -> None:
    def explode(phase: str, done: int, total: int | None) -> None:
        if phase == "storing" and done >= 10:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        launch(engine, spec, EXAMPLES / "users.csv", batch_size=5, progress=explode)
    assert counts(engine) == (0, 0, 0)


def test_skip_invalid_imports_good_rows_and_writes_rejects(
    engine: Engine, spec: CampaignSpec, tmp_path: Path
) -> None:
    users = tmp_path / "bad_users.csv"
    shutil.copy(EXAMPLES / "bad_users.csv", users)
    report = launch(engine, spec, users, skip_invalid=True)
    assert report.cases == 1 and report.rejected == 9
    assert report.rejects_path == tmp_path / "bad_users.rejects.csv"
    rejects = report.rejects_path.read_text().splitlines()
    assert rejects[0] == "line,reasons,external_id,name,phone,email,locale,timezone,risk_tier"
    # Valid CSV: every row has the header's width, so it can be fixed and imported again.
    with report.rejects_path.open(newline="") as handle:
        assert {len(row) for row in csv.reader(handle)} == {9}
    assert len(rejects) == 10 and rejects[1].startswith("3,phone: phone or email is required")
    assert counts(engine) == (1, 1, 1)


def test_existing_recipient_is_updated_not_duplicated(
    engine: Engine, spec: CampaignSpec, tmp_path: Path
) -> None:
    first = tmp_path / "a.csv"
    first.write_text(HEADER + "u1,Ann,+12125550143,,en,UTC,2\nu2,Bob,,bob@example.com,en,UTC,3\n")
    second = tmp_path / "b.csv"
    second.write_text(HEADER + "u1,Ann Lee,+12125550199,ann@example.com,zh-CN,Asia/Shanghai,1\n")
    launch(engine, spec, first)
    with Session(engine) as session:
        session.execute(Recipient.__table__.update().values(sms_opted_out=True))
        session.commit()
    launch(engine, spec, second)
    assert counts(engine) == (2, 2, 3)
    with Session(engine) as session:
        ann = session.scalars(select(Recipient).where(Recipient.external_id == "u1")).one()
        assert (ann.name, ann.phone, ann.email, ann.locale, ann.risk_tier) == (
            "Ann Lee",
            "+12125550199",
            "ann@example.com",
            "zh-CN",
            1,
        )
        assert ann.sms_opted_out, "an opt-out must survive a new import"


def test_launch_accepts_a_session_factory(sqlite_engine: Engine, spec: CampaignSpec) -> None:
    from pipeline.db import session_factory

    campaign_id = launch_campaign(session_factory(sqlite_engine), spec, EXAMPLES / "users.csv")
    assert campaign_id == 1
    assert spec.deadline > datetime.now(UTC) + timedelta(days=1)


def test_duplicate_ids_are_found_in_the_database_and_the_first_is_kept(
    engine: Engine, spec: CampaignSpec, tmp_path: Path
) -> None:
    users = tmp_path / "dups.csv"
    users.write_text(
        HEADER
        + "u1,First,+12125550143,,en,UTC,2\n"
        + "u2,Other,+12125550144,,en,UTC,2\n"
        + "u1,Second,+12125550145,,en,UTC,2\n"
        + "u1,Third,+12125550146,,en,UTC,2\n"
    )
    with pytest.raises(InputErrors) as caught:
        launch(engine, spec, users)
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (4, "external_id"),
        (5, "external_id"),
    ]
    assert "also on line 2" in caught.value.errors[0].reason
    assert counts(engine) == (0, 0, 0)
    report = launch(engine, spec, users, skip_invalid=True)
    assert (report.cases, report.rejected) == (2, 2)
    with Session(engine) as session:
        first = session.scalars(select(Recipient).where(Recipient.external_id == "u1")).one()
        assert first.name == "First"
