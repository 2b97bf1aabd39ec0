"""The scheduler's jobs: due cases are claimed once and enqueued after commit; the embedded
scheduler runs them on its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.clock import utcnow
from pipeline.models import Case
from pipeline.reporting import tallies
from pipeline.settings import get_settings
from schedules.jobs import Jobs
from schedules.runner import start_embedded_scheduler
from tests import sched_data as data


class Outbox:
    """Stands in for the broker edge: records which cases were enqueued, and checks that
    each claim was committed before its message left."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, case_ids: list[int]) -> None:
        with Session(self.engine) as other:
            for case_id in case_ids:
                assert other.get(Case, case_id).enqueued_at is not None  # type: ignore[union-attr]
        with self.lock:
            self.sent.extend(case_ids)


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=engine, expire_on_commit=False)


def test_due_cases_are_enqueued_once_in_batches(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    with sessions.begin() as session:
        campaign = data.campaign(session)
        due = [
            data.case(session, campaign, next_due_at=now - timedelta(seconds=1)).id
            for _ in range(7)
        ]
        data.case(session, campaign, next_due_at=now + timedelta(hours=1))
        data.case(session, campaign, next_due_at=None)
    outbox = Outbox(sessions.kw["bind"])
    jobs = Jobs(sessions, outbox, batch_size=3)

    assert jobs.enqueue_due_cases() == 7
    assert sorted(outbox.sent) == sorted(due)
    assert jobs.enqueue_due_cases() == 0  # claimed: not enqueued again


def test_embedded_scheduler_runs_the_due_scan(
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(get_settings(), "due_scan_interval", 0.2)
    with sessions.begin() as session:
        case_id = data.case(session, data.campaign(session), next_due_at=utcnow()).id
    outbox = Outbox(sessions.kw["bind"])
    scheduler = start_embedded_scheduler(sessions, outbox)
    try:
        deadline = time.monotonic() + 30  # generous: a loaded machine; success ends it early
        while not outbox.sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    failures = [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    assert outbox.sent == [case_id], failures


def test_folding_tallies_keeps_every_figure(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        campaign = data.campaign(session)
        for _ in range(3):
            data.case(session, campaign, next_due_at=utcnow())
            session.flush()
    jobs = Jobs(sessions, enqueue=lambda ids: None)
    folded = jobs.fold_tallies()
    with sessions() as session:
        if not tallies.kept_by(session.connection()):
            assert folded == 0  # SQLite keeps no tallies: nothing to fold
            return
        assert folded == 2  # three one-case inserts became one row
        assert tallies.read(session, campaign.id) == {"state:pending": 3.0}
