"""The campaign figures the dashboard draws, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.reporting import metrics
from pipeline.reporting import views as campaign_view
from tests.dashboard.conftest import seed


def test_funnel_states_channels_steps_slowest_and_series(engine: Engine) -> None:
    with Session(engine) as session:
        seeded = seed(session)
        detail = campaign_view.campaign_detail(session, seeded.campaign_id)
        assert detail is not None
        assert detail.funnel == [
            ("in scope", 6),
            ("reached", 6),
            ("answered", 4),
            ("agreed", 2),
            ("completed", 2),
        ]
        assert detail.states["completed"] == 2 and detail.states["pending"] == 0
        assert detail.channels == {
            "sms": {"sent": 6, "delivered": 6, "failed": 0, "cost": 6.0, "answers": 4}
        }
        assert detail.steps == [
            {"step": 0, "channel": "sms", "answers": {"agree": 2, "refuse": 1, "query": 1}}
        ]
        # Seeded answers came 1.0, 1.1, 1.2 and 1.3 hours after the notice.
        assert [round(s.seconds / 360) for s in detail.slowest] == [13, 12, 11, 10]
        assert detail.row.completion == pytest.approx(2 / 6)
        # One stored snapshot, then the live figure.
        assert [round(v, 3) for _, v in detail.completion_series] == [0.1, 0.333]
        assert campaign_view.campaign_detail(session, 999_999) is None


def test_cancelled_cases_leave_the_scope(engine: Engine) -> None:
    from pipeline.models import Case

    with Session(engine) as session:
        seeded = seed(session)
        waiting = session.query(Case).filter(Case.state == "awaiting_response").all()
        for case in waiting:
            case.state = "cancelled"
        session.commit()
        (row,) = campaign_view.campaign_rows(session)
        assert (row.cases, row.in_scope, row.completed) == (6, 4, 2)
        assert row.completion == pytest.approx(0.5)
        counts = metrics.campaign_counts(session, seeded.campaign_id)
        assert campaign_view.funnel(counts)[0] == ("in scope", 4)
