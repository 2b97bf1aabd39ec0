"""`recall complaints`: the statistics as text and as JSON, and bad input in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from pipeline.complaints import records
from pipeline.complaints.stages import AWAITING_APPROVAL, INVESTIGATING, RESOLVED
from pipeline.db import engine_for
from pipeline.settings import get_settings
from tests.pipeline_factories import make_campaign, make_case

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RECALL_DATABASE_URL", url)
    monkeypatch.delenv("RECALL_BROKER_URL", raising=False)
    monkeypatch.delenv("RECALL_HOLIDAYS", raising=False)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield url
    engine_for(url).dispose()
    get_settings.cache_clear()


def _seed(url: str) -> None:
    """Two complaints in week 10 of 2026 (one resolved late), one in week 11."""
    with Session(engine_for(url)) as session:
        campaign = make_campaign(session)
        texts = [("I will complain", 2), ("My lawyer will call", 9), ("我要举报", 10)]
        for n, (text, day) in enumerate(texts):
            case = make_case(session, campaign, n)
            records.on_question(
                session, case, text, "sms", datetime(2026, 3, day, 9, tzinfo=UTC), []
            )
        first = records.complaint_of(session, 1)
        assert first is not None
        for stage, day in ((INVESTIGATING, 3), (AWAITING_APPROVAL, 9), (RESOLVED, 9)):
            records.move(session, first.id, stage, "user:ann",
                         datetime(2026, 3, day, 10, tzinfo=UTC), outcome="upheld")  # fmt: skip
        session.commit()


def test_json_figures(database: str) -> None:
    _seed(database)
    result = runner.invoke(app, ["complaints", "--json"])
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["total"], stats["open"], stats["closed"]) == (3, 3, 0)
    assert stats["by_week"] == {"2026-W10": 1, "2026-W11": 2}
    assert stats["by_type"] == {"legal": 1, "regulator": 1, "general": 1, "agent": 0}
    assert stats["by_outcome"] == {"upheld": 1, "partly_upheld": 0, "not_upheld": 0, "open": 2}
    # Investigation due Thu 5 March 09:00 (3 working days from Mon 2), done Mon 9: late.
    assert stats["deadlines"]["investigation"] == {"due": 1, "met": 0, "share": 0.0}
    assert stats["deadlines"]["approval"] == {"due": 1, "met": 1, "share": 1.0}
    since = json.loads(runner.invoke(app, ["complaints", "--json", "--since", "2026-03-09"]).stdout)
    assert since["total"] == 2 and since["by_week"] == {"2026-W11": 2}
    other = json.loads(runner.invoke(app, ["complaints", "--json", "--campaign", "99"]).stdout)
    assert other["total"] == 0


def test_text_figures(database: str) -> None:
    _seed(database)
    result = runner.invoke(app, ["complaints"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("complaints: 3 (3 open, 0 closed, 0 reopened, ")
    assert "by week: 2026-W10 1, 2026-W11 2" in lines
    assert "by channel: sms 3" in lines
    assert "  investigation   0/1  0%" in lines
    assert "  approval        1/1  100%" in lines


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=30).filter(lambda s: not s.startswith("-")))
def test_any_since_is_a_result_or_one_line(database: str, since: str) -> None:
    result = runner.invoke(app, ["complaints", "--json", "--since", since])
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "--since:" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    else:
        assert json.loads(result.stdout)["total"] == 0
