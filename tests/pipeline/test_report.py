"""`recall report`: per-case outcomes with masked contact data and the summary metrics."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.masking import mask_email, mask_phone
from pipeline.metrics import campaign_status
from pipeline.report import render_report, report_columns
from tests import sched_data as data

PHONE, EMAIL = "+15557654321", "ada.lovelace@example.com"


@pytest.fixture
def filled(sqlite_engine: Engine) -> Iterator[tuple[Session, int]]:
    with Session(sqlite_engine, expire_on_commit=False) as session:
        campaign = data.campaign(session, name="Heater <recall> & co")
        person = data.recipient(session, phone=PHONE, email=EMAIL)
        agreed = data.case(
            session,
            campaign,
            person,
            state="completed",
            last_response="agree",
            answered_channel="sms",
            answered_step=0,
        )
        data.attempt(session, agreed, "sms", campaign.deadline, step=0)
        data.case(session, campaign, state="unreachable")
        session.commit()
        yield session, campaign.id


def test_csv_has_one_masked_row_per_case_and_the_summary(filled: tuple[Session, int]) -> None:
    session, campaign_id = filled
    text = render_report(session, campaign_id, "csv")
    assert PHONE not in text and EMAIL not in text
    table = [line for line in text.splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(table))))
    assert list(rows[0]) == report_columns()
    assert len(rows) == 2
    first = rows[0]
    assert (first["phone"], first["email"]) == (mask_phone(PHONE), mask_email(EMAIL))
    assert (first["state"], first["last_response"], first["answered_step"]) == (
        "completed",
        "agree",
        "1",
    )
    assert first["attempts"] == "1" and rows[1]["attempts"] == "0"
    completion = campaign_status(session, campaign_id)["rates"]["completion"]
    assert f"# completion rate: {completion:.1%}" in text


def test_html_is_escaped_and_masked(filled: tuple[Session, int]) -> None:
    session, campaign_id = filled
    html = render_report(session, campaign_id, "html")
    assert "Heater &lt;recall&gt; &amp; co" in html and "<recall>" not in html
    assert PHONE not in html and mask_phone(PHONE) in html
    assert "completion rate" in html


def _recall(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{db}"}
    command = [str(Path(sys.executable).with_name("recall")), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_cli_writes_the_report_and_rejects_bad_input(
    filled: tuple[Session, int], sqlite_url: str, tmp_path: Path
) -> None:
    _, campaign_id = filled
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    out = tmp_path / "report.html"
    done = _recall("report", str(campaign_id), "--format", "html", "--output", str(out), db=db)
    assert done.returncode == 0, done.stderr
    assert mask_phone(PHONE) in out.read_text()
    missing = _recall("report", "999", db=db)
    assert missing.returncode != 0 and "999" in missing.stderr
    bad = _recall("report", str(campaign_id), "--format", "pdf", db=db)
    assert bad.returncode != 0 and "pdf" in bad.stderr
