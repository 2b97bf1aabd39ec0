"""/metrics counts answers and provider errors the same way on both databases: from the
campaigns' tallies plus unmatched answers on PostgreSQL, by scanning on SQLite."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.models import Attempt, Response
from tests.pipeline_factories import make_campaign, make_case
from web.prometheus import _answers, _provider_errors


def test_answers_and_provider_errors(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = make_campaign(session)
        first, second = make_case(session, campaign, 1), make_case(session, campaign, 2)
        session.add_all(
            [
                Response(case_id=first.id, channel="sms", kind="agree", raw_text="YES"),
                Response(case_id=second.id, channel="email", kind="agree", raw_text=""),
                Response(case_id=second.id, channel="sms", kind="refuse", raw_text="NO"),
                Response(case_id=None, channel="sms", kind="agree", raw_text="YES"),  # unmatched
                Attempt(case_id=first.id, channel="sms", step=0, status="undelivered",
                        error_code="30006", cost_units=0.0),
                Attempt(case_id=second.id, channel="sms", step=0, status="delivered",
                        cost_units=1.0),
                Attempt(case_id=second.id, channel="voice", step=1, status="failed",
                        cost_units=0.0),
            ]
        )  # fmt: skip
        session.commit()
        assert _answers(session) == {("agree", "sms"): 2, ("agree", "email"): 1,
                                     ("refuse", "sms"): 1}  # fmt: skip
        assert _provider_errors(session) == {("sms", "30006"): 1, ("voice", "none"): 1}
