"""Risk-event incidents: the pure rules (open / remind / keep / close, a failure spike, a
stopped queue) for every class of input, and ``reconcile`` over any history of a condition:
one incident per spell, one post when it starts, one when it ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from actors.queues import QueueStats
from pipeline.models import Incident
from pipeline.reporting import incidents
from pipeline.reporting.incident_checks import is_failure_spike, is_stalled
from pipeline.reporting.incidents import Decision, Finding, decide
from pipeline.settings import get_settings

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)
repeats = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=2))


@given(st.booleans(), st.booleans(), st.none() | moments, moments, repeats)
def test_decide_follows_the_condition(
    is_open: bool, active: bool, last: datetime | None, now: datetime, repeat: timedelta
) -> None:
    decision = decide(is_open, active, last, now, repeat)
    if not is_open:
        assert decision is (Decision.OPEN if active else Decision.NONE)
    elif not active:
        assert decision is Decision.CLOSE
    elif last is None or now - last >= repeat:
        assert decision is Decision.REMIND
    else:
        assert decision is Decision.KEEP


def test_decide_reminds_exactly_at_the_repeat_interval() -> None:
    hour = timedelta(hours=1)
    assert decide(True, True, NOW, NOW + hour - timedelta(seconds=1), hour) is Decision.KEEP
    assert decide(True, True, NOW, NOW + hour, hour) is Decision.REMIND


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(1, 100), st.floats(0.01, 1))
def test_a_spike_needs_both_the_count_and_the_share(
    failed: int, finished: int, minimum: int, share: float
) -> None:
    failed = min(failed, finished)
    spike = is_failure_spike(failed, finished, minimum, share)
    assert spike == (finished > 0 and failed >= minimum and failed / finished >= share)
    if spike:
        assert failed >= 1, "no spike without a failure"


@given(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))
def test_a_queue_stops_when_ready_work_is_not_taken(ready: int, processed: int, dead: int) -> None:
    stats = QueueStats("default", ready, 0, 0, dead, processed, 0, 5)
    assert is_stalled(stats) == (ready > 0 and processed == 0)


@pytest.fixture
def session(sqlite_engine: Engine) -> Iterator[Session]:
    with Session(sqlite_engine, expire_on_commit=False) as session:
        yield session


def _run(session: Session, history: list[bool], step: timedelta) -> list[incidents.Notice]:
    notices: list[incidents.Notice] = []
    for i, active in enumerate(history):
        found = [Finding(incidents.FAILED_SENDS, "sms", f"tick {i}")] if active else []
        notices += incidents.reconcile(session, incidents.FAILED_SENDS, found, NOW + i * step)
        session.commit()
    return notices


# The table is emptied at the start of each example, so sharing the engine is safe.
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=st.lists(st.booleans(), max_size=12))
def test_one_incident_per_spell_of_the_condition(
    sqlite_engine: Engine, history: list[bool]
) -> None:
    # Checks a minute apart, reminders hourly (the default): none within a dozen checks.
    with Session(sqlite_engine, expire_on_commit=False) as session:
        session.execute(Incident.__table__.delete())
        notices = _run(session, history, timedelta(minutes=1))
        rows = session.scalars(select(Incident).order_by(Incident.id)).all()
    starts = sum(1 for i, a in enumerate(history) if a and (i == 0 or not history[i - 1]))
    ends = sum(1 for i, a in enumerate(history) if not a and i > 0 and history[i - 1])
    assert [n.event for n in notices].count("opened") == starts == len(rows)
    assert [n.event for n in notices].count("ended") == ends
    assert "ongoing" not in [n.event for n in notices]
    still_open = [r for r in rows if r.ended_at is None]
    assert len(still_open) == (1 if history and history[-1] else 0)


def test_a_persisting_incident_is_posted_again_after_the_repeat(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "alert_repeat_minutes", 30)
    notices = _run(session, [True] * 8, timedelta(minutes=10))  # 70 minutes on
    assert [n.event for n in notices] == ["opened", "ongoing", "ongoing"]
    [row] = session.scalars(select(Incident)).all()
    assert row.notifications == 3 and row.detail == "tick 7" and row.ended_at is None


def test_counts_by_kind_name_every_kind(session: Session) -> None:
    _run(session, [True, False, True], timedelta(minutes=1))
    total, open_now = incidents.counts_by_kind(session)
    assert set(total) == set(open_now) == set(incidents.KINDS)
    assert total[incidents.FAILED_SENDS] == 2 and open_now[incidents.FAILED_SENDS] == 1
    assert [r.open for r in incidents.recent(session)] == [True, False], "open ones first"
