"""`recall audit verify` keeps each run, intact or broken, so every campaign's compliance
shows the last verification and its result."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import AuditVerification, Campaign
from pipeline.reporting.metrics import campaign_status
from pipeline.settings import get_settings
from tests import inbound_rows as rows


@pytest.fixture
def cli_database(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("RECALL_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    yield sqlite_engine
    get_settings.cache_clear()


def _verify() -> int:
    from cli.main import app

    return CliRunner().invoke(app, ["audit", "verify"]).exit_code


def test_each_verify_run_is_recorded_and_reaches_the_status(cli_database: Engine) -> None:
    with session_scope(cli_database) as session:
        campaign = rows.campaign(session)
        case = rows.case(session, campaign, rows.recipient(session))
        process_inbound_event(session, rows.sms(session, case.recipient.phone or "", "YES").id)
        campaign_id = campaign.id
    assert _verify() == 0
    with cli_database.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_event SET actor = 'mallory' WHERE id = 1")
    assert _verify() == 1
    with session_scope(cli_database) as session:
        runs = session.execute(
            select(AuditVerification.ok, AuditVerification.first_bad_id).order_by(
                AuditVerification.id
            )
        ).all()
        assert session.get(Campaign, campaign_id) is not None
        figure = campaign_status(session, campaign_id)["compliance"]["audit"]
    assert [tuple(run) for run in runs] == [(True, None), (False, 1)]
    assert (figure["result"], figure["first_bad_id"]) == ("broken", 1)
