"""Metric snapshots per running campaign, a minute apart on a controlled clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.reporting.metrics import campaign_status
from pipeline.reporting.snapshots import snapshot_series, take_snapshots
from tests import sched_data as data

START = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def test_one_snapshot_per_live_campaign_and_a_rising_curve(session: Session) -> None:
    running = data.campaign(session)
    paused = data.campaign(session, state="paused")
    data.campaign(session, state="closed")
    cases = [data.case(session, running, state="awaiting_response") for _ in range(4)]
    data.case(session, paused, state="awaiting_response")
    session.commit()

    with time_machine.travel(START, tick=False):
        taken = take_snapshots(session, utcnow())
    assert sorted(s.campaign_id for s in taken) == sorted([running.id, paused.id])
    cases[0].state = "completed"
    session.commit()
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        take_snapshots(session, utcnow())
    session.commit()

    series = snapshot_series(session, running.id)
    assert [at for at, _ in series] == [START, START + timedelta(minutes=1)]
    assert series[0][1] == 0.0
    assert series[1][1] == campaign_status(session, running.id)["rates"]["completion"] > 0
