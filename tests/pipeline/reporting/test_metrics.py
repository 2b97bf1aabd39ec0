from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.campaigns.file import load_campaign_file
from pipeline.campaigns.launch import launch_campaign
from pipeline.cases.states import CaseState
from pipeline.errors import NotFound
from pipeline.models import Attempt, Case, Response
from pipeline.reporting.metrics import RESPONSE_KINDS, campaign_status

EXAMPLES = Path(__file__).parents[3] / "examples"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_fresh_campaign_has_every_key_with_zeros(engine: Engine) -> None:
    spec = load_campaign_file(EXAMPLES / "campaign.yaml")
    campaign_id = launch_campaign(engine, spec, EXAMPLES / "users.csv")
    with Session(engine) as session:
        status = campaign_status(session, campaign_id)
    total = status["cases"]
    assert total == 32 and status["campaign_id"] == campaign_id and status["state"] == "running"
    assert status["states"] == {state.value: 0 for state in CaseState} | {"pending": total}
    assert status["rates"] == {"completion": 0.0, "reach": 0.0, "response": 0.0}
    assert status["responses"] == dict.fromkeys(RESPONSE_KINDS, 0)
    assert status["channels"] == {
        ch: {"sent": 0, "delivered": 0, "failed": 0} for ch in ("sms", "email", "voice")
    }
    assert status["steps"] == [] and status["median_seconds_to_answer"] is None


def test_counts_follow_cases_attempts_and_responses(engine: Engine) -> None:
    spec = load_campaign_file(EXAMPLES / "campaign.yaml")
    campaign_id = launch_campaign(engine, spec, EXAMPLES / "users.csv")
    other = launch_campaign(engine, spec, EXAMPLES / "users.csv")  # must not leak in
    with Session(engine) as session:
        cases = session.scalars(
            select(Case).where(Case.campaign_id == campaign_id).order_by(Case.id)
        ).all()
        # Four answered cases: 60 s, 120 s, 300 s, 600 s after the first notice → median 210.
        for case, (state, seconds, step, channel) in zip(
            cases,
            [
                ("completed", 60, 0, "sms"),
                ("completed", 120, 0, "sms"),
                ("refused", 300, 1, "email"),
                ("query_open", 600, 1, "email"),
            ],
            strict=False,
        ):
            case.state, case.answered_step, case.answered_channel = state, step, channel
            case.first_notified_at = T0
            case.last_response_at = T0 + timedelta(seconds=seconds)
            case.reached_at = T0
            kind = {"completed": "agree", "refused": "refuse", "query_open": "query"}[state]
            case.last_response = kind
            session.add(Response(case_id=case.id, channel=channel, kind=kind, raw_text="x"))
        cases[4].state = "cancelled"
        cases[5].state = "opted_out"
        session.add(Response(case_id=cases[5].id, channel="sms", kind="opt_out"))
        # An earlier NO from a case that agreed since: people are counted by their latest
        # answer, so this is no refusal.
        session.add(Response(case_id=cases[0].id, channel="sms", kind="refuse", raw_text="NO"))
        # A HELP message answers nothing: counted as a message received.
        session.add(Response(case_id=cases[6].id, channel="sms", kind="help", raw_text="HELP"))
        attempts = [
            ("sms", "delivered", 1.0, True),
            ("sms", "delivered", 2.0, True),
            ("sms", "undelivered", 1.0, True),
            ("email", "delivered", 0.0, True),
            ("voice", "permanent_failure", 0.0, False),
        ]
        for i, (channel, status, cost, sent) in enumerate(attempts):
            session.add(
                Attempt(
                    case_id=cases[i].id,
                    channel=channel,
                    step=0,
                    status=status,
                    cost_units=cost,
                    sent_at=T0 if sent else None,
                )
            )
        other_case = session.scalars(select(Case).where(Case.campaign_id == other)).first()
        assert other_case is not None
        other_case.state = "completed"
        session.commit()
        status = campaign_status(session, campaign_id)
    assert status["states"]["completed"] == 2 and status["states"]["pending"] == 32 - 6
    assert status["rates"]["completion"] == round(2 / 31, 6)  # cancelled is out of scope
    assert status["rates"]["reach"] == round(4 / 32, 6)
    assert status["rates"]["response"] == round(4 / 32, 6)
    assert status["responses"] == {
        "agree": 2,
        "refuse": 1,
        "query": 1,
        "opt_out": 0,  # opted out without an answer on record (the answer fields are unset)
        "help": 1,
        "unknown": 0,
    }
    assert status["channels"]["sms"] == {"sent": 3, "delivered": 2, "failed": 1}
    assert status["channels"]["email"] == {"sent": 1, "delivered": 1, "failed": 0}
    assert status["channels"]["voice"] == {"sent": 0, "delivered": 0, "failed": 1}
    assert status["steps"] == [
        {"step": 0, "channel": "sms", "answers": 2},
        {"step": 1, "channel": "email", "answers": 2},
    ]
    assert status["cost_units"] == {"sms": 4.0, "email": 0.0, "voice": 0.0, "total": 4.0}
    # PostgreSQL reads it from the tallies' histogram: within 2.2% by construction.
    exact = engine.dialect.name == "sqlite"
    assert status["median_seconds_to_answer"] == pytest.approx(210, rel=1e-6 if exact else 0.022)


def test_unknown_campaign(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session, pytest.raises(NotFound):
        campaign_status(session, 404)
