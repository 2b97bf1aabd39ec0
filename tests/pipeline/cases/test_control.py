"""pipeline.cases.control and `recall pause|resume|cancel`: audited, and cancel closes cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from pipeline.cases import control
from pipeline.cases.notify import notify_case
from pipeline.cases.sweep import claim_due_cases
from pipeline.errors import InvalidState, NotFound
from pipeline.models import AuditEvent, Case
from pipeline.settings import Settings, get_settings
from tests.pipeline_factories import NOW, make_campaign, make_case


def test_pause_resume_cancel_are_audited_and_guarded(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = make_campaign(session)
        control.pause(session, campaign.id, "ops")
        assert campaign.state == "paused"
        with pytest.raises(InvalidState):
            control.pause(session, campaign.id, "ops")
        control.resume(session, campaign.id, "ops")
        control.cancel(session, campaign.id, "ops")
        with pytest.raises(InvalidState):
            control.resume(session, campaign.id, "ops")
        with pytest.raises(NotFound):
            control.pause(session, 999_999, "ops")
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert [a for a in actions if a.startswith("campaign.")] == [
            "campaign.pause",
            "campaign.resume",
            "campaign.cancel",
        ]


def test_resume_makes_steps_claimed_during_the_pause_due_at_once(engine: Engine) -> None:
    settings = Settings(attempt_lease_seconds=600)
    with Session(engine) as session:
        campaign = make_campaign(session)
        case = make_case(session, campaign)
        notify_case(session, case.id, NOW, settings)  # claimed; its send then held by the pause
        control.pause(session, campaign.id, "ops")
        later = NOW + timedelta(seconds=60)
        assert claim_due_cases(session, later, 10, settings=settings) == []
        assert control.resume(session, campaign.id, "ops", now=later) == 1
        assert claim_due_cases(session, later, 10, settings=settings) == [case.id]


def test_cancel_closes_open_cases_and_leaves_closed_ones(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = make_campaign(session)
        open_cases = [make_case(session, campaign, n) for n in range(3)]
        done = make_case(session, campaign, 9)
        done.state = "completed"
        assert control.cancel(session, campaign.id, "ops", now=NOW) == 3
        assert {case.state for case in open_cases} == {"cancelled"}
        assert {case.next_due_at for case in open_cases} == {None}
        assert done.state == "completed"
        assert (
            notify_case(session, open_cases[0].id, NOW, Settings()).reason == "campaign_cancelled"
        )


def test_cli_names_the_problem_and_exits_non_zero(
    sqlite_engine: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import app

    monkeypatch.setenv("RECALL_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        with Session(sqlite_engine) as session:
            campaign_id = make_campaign(session).id
            session.commit()
        runner = CliRunner()
        missing = runner.invoke(app, ["pause", "424242"])
        assert missing.exit_code == 1
        assert "campaign 424242 does not exist" in missing.output
        paused = runner.invoke(app, ["pause", str(campaign_id)])
        assert paused.exit_code == 0, paused.output
        again = runner.invoke(app, ["pause", str(campaign_id)])
        assert again.exit_code == 1 and "is paused" in again.output
        resumed = runner.invoke(app, ["resume", str(campaign_id)])
        assert resumed.exit_code == 0 and "resumed" in resumed.output
        cancelled = runner.invoke(app, ["cancel", str(campaign_id)])
        assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
        with Session(sqlite_engine) as session:
            assert session.scalars(select(Case)).all() == []
    finally:
        get_settings.cache_clear()
