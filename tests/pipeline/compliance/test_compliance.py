"""Compliance figures, provoked and then found in the status: a send in quiet hours let
through by an override, a STOP (and a send after it), sends over the caps, a tampered
audit row, the launch check of the notices, and risk events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from pipeline.campaigns.file import load_campaign_file
from pipeline.campaigns.launch import launch_campaign
from pipeline.cases.caps import WINDOW
from pipeline.cases.notify import Outcome, complete_attempt, notify_case
from pipeline.cases.quiet_hours import parse_clock, quiet_window_around, zone_for
from pipeline.clock import utcnow
from pipeline.compliance import records
from pipeline.compliance.sends import _over_cap, in_window
from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import (
    Attempt,
    AuditEvent,
    Campaign,
    ErasureRequest,
    FollowUpSend,
    Incident,
)
from pipeline.privacy import audit
from pipeline.reporting.metrics import campaign_status
from pipeline.settings import Settings
from tests import inbound_rows as rows
from tests.pipeline_factories import make_campaign, make_case

EXAMPLES = Path(__file__).parents[3] / "examples"
SETTINGS = Settings(attempt_lease_seconds=600, sending_stale_seconds=300)
NIGHT = datetime.fromisoformat("2026-03-02T15:00:00+00:00")  # 23:00 in Shanghai
NIGHTS = {"start": "21:00", "end": "08:00"}


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def compliance(session: Session, campaign: Campaign) -> dict[str, Any]:
    session.flush()
    return campaign_status(session, campaign.id)["compliance"]  # type: ignore[no-any-return]


def _send_now(session: Session, campaign: Campaign, n: int, tz: str, at: datetime) -> Outcome:
    case = make_case(session, campaign, n, timezone=tz, due=at)
    result = notify_case(session, case.id, at, SETTINGS)
    if result.outcome is Outcome.SEND:
        attempt = session.get(Attempt, result.attempt_id)
        assert attempt is not None
        complete_attempt(session, case, attempt, provider_id=f"SM{n}", cost_units=1, now=at)
    return result.outcome


def test_a_quiet_hours_send_with_an_override_is_counted_and_listed(session: Session) -> None:
    night_allowed = make_campaign(session, quiet_hours=NIGHTS)
    night_allowed.reason, night_allowed.spec = "security_incident", {"override_quiet_hours": True}
    assert _send_now(session, night_allowed, 1, "Asia/Shanghai", NIGHT) is Outcome.SEND
    assert _send_now(session, night_allowed, 2, "UTC", NIGHT) is Outcome.SEND  # 15:00 there
    figure = compliance(session, night_allowed)["quiet_hours_sends"]
    assert figure["count"] == 1
    assert figure["overrides"] == ["override_quiet_hours: true (security_incident)"]
    assert [s["channel"] for s in figure["sends"]] == ["sms"]
    # Without the override the same send waits for the morning: nothing to count.
    plain = make_campaign(session, quiet_hours=NIGHTS)
    assert _send_now(session, plain, 3, "Asia/Shanghai", NIGHT) is Outcome.DEFERRED
    assert compliance(session, plain)["quiet_hours_sends"] == {
        "count": 0, "overrides": [], "sends": []
    }  # fmt: skip


def test_quiet_hours_turned_off_in_the_file_is_an_override(session: Session) -> None:
    off = make_campaign(session, quiet_hours=None)
    assert _send_now(session, off, 1, "Asia/Shanghai", NIGHT) is Outcome.SEND
    figure = compliance(session, off)["quiet_hours_sends"]
    assert figure["count"] == 1 and figure["overrides"][0].startswith("quiet_hours: null")


def test_a_stop_is_timed_and_a_send_after_it_is_counted(session: Session) -> None:
    camp = rows.campaign(session)
    case = rows.case(session, camp, rows.recipient(session))
    rows.attempt(session, case).sent_at = utcnow() - timedelta(minutes=5)
    before = compliance(session, camp)
    assert before["sends_after_opt_out"] == 0
    assert before["stop_to_suppression"] == {
        "count": 0, "median_seconds": None, "max_seconds": None
    }  # fmt: skip
    stop = rows.sms(session, case.recipient.phone or "", "STOP")
    stop.received_at = utcnow() - timedelta(seconds=3)
    process_inbound_event(session, stop.id)
    after = compliance(session, camp)
    assert after["stop_to_suppression"]["count"] == 1
    assert 3 <= after["stop_to_suppression"]["max_seconds"] < 60
    # The confirmation of the opt-out is allowed; another message on that channel is not.
    later = utcnow() + timedelta(seconds=1)
    confirmation = "opt_out_confirmation"
    session.add(FollowUpSend(key="c1", case_id=case.id, channel="sms", kind=confirmation,
                             status="sent", sent_at=later))  # fmt: skip
    assert compliance(session, camp)["sends_after_opt_out"] == 0
    session.add(FollowUpSend(key="c2", case_id=case.id, channel="sms", kind="reply",
                             status="sent", sent_at=later))  # fmt: skip
    session.add(Attempt(case_id=case.id, channel="sms", step=1, status="sent", sent_at=later))
    session.add(Attempt(case_id=case.id, channel="email", step=2, status="sent", sent_at=later))
    assert compliance(session, camp)["sends_after_opt_out"] == 2  # the email was allowed


def test_sends_over_the_daily_cap_are_counted(session: Session) -> None:
    camp = rows.campaign(session)
    other = rows.campaign(session)
    person = rows.recipient(session)
    mine, theirs = rows.case(session, camp, person), rows.case(session, other, person)
    start = utcnow() - timedelta(hours=10)
    # The cap (3 SMS a day) holds across campaigns: two of theirs, then three of ours.
    for step, (case, hours) in enumerate(
        [(theirs, 0), (theirs, 1), (mine, 2), (mine, 3), (mine, 30)]
    ):
        moment = start + timedelta(hours=hours)
        session.add(Attempt(case_id=case.id, channel="sms", step=step, status="sent",
                            claimed_at=moment, sent_at=moment))  # fmt: skip
    assert compliance(session, camp)["over_frequency_caps"] == 1  # the one at hour 3


@given(
    st.lists(st.tuples(st.integers(0, 96), st.booleans()), max_size=20),
    st.integers(1, 4),
)
def test_over_cap_counts_like_the_brute_force(sends: list[tuple[int, bool]], cap: int) -> None:
    base = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
    ordered = sorted((base + timedelta(hours=h / 2), mine) for h, mine in sends)
    expected = sum(
        1
        for i, (at, mine) in enumerate(ordered)
        if mine and sum(1 for t, _ in ordered[:i] if at - t < WINDOW) >= cap
    )
    assert _over_cap(ordered, cap) == expected


def test_a_tampered_audit_row_shows_as_broken(session: Session) -> None:
    camp = rows.campaign(session)
    assert compliance(session, camp)["audit"]["result"] is None  # never verified
    case = rows.case(session, camp, rows.recipient(session))
    process_inbound_event(session, rows.sms(session, case.recipient.phone or "", "YES").id)
    records.record_verification(session, audit.verify(session))
    assert compliance(session, camp)["audit"]["result"] == "intact"
    first = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert first is not None
    session.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(actor="mallory"))
    records.record_verification(session, audit.verify(session), now=utcnow() + timedelta(seconds=1))
    figure = compliance(session, camp)["audit"]
    assert (figure["result"], figure["first_bad_id"]) == ("broken", first.id)


def test_notices_of_a_launched_campaign_state_every_part(engine: Engine) -> None:
    spec = load_campaign_file(EXAMPLES / "campaign.yaml")
    campaign_id = launch_campaign(engine, spec, EXAMPLES / "users.csv")
    with session_scope(engine) as session:
        camp = session.get(Campaign, campaign_id)
        assert camp is not None
        case_id = camp.id and session.scalars(select(Attempt.case_id)).first()
        assert case_id is None  # nothing sent yet
        assert compliance(session, camp)["notices"] == {"sent": 0, "complete": 0, "missing": []}
        # A stored file whose own SMS leaves the remedy out (the launch check would refuse it).
        camp.spec = {**camp.spec, "templates": {"en": {"sms": "{# states: reason, scope #}"
                     "Recall of {{ campaign }} by {{ deadline }}: reply YES or NO"}}}  # fmt: skip
        missing = compliance(session, camp)["notices"]["missing"]
    assert missing and all("remedy" in text for text in missing)


def test_risk_events_while_the_campaign_ran(session: Session) -> None:
    camp = rows.campaign(session)
    camp.launched_at = utcnow() - timedelta(hours=1)
    session.add_all([
        Incident(kind="failed_sends", key="sms", started_at=utcnow() - timedelta(minutes=30),
                 notifications=1, last_notified_at=utcnow()),
        Incident(kind="budget_passed", key=f"campaign:{camp.id}", started_at=utcnow(),
                 notifications=0),
        Incident(kind="budget_passed", key=f"campaign:{camp.id + 1000}", started_at=utcnow()),
        Incident(kind="failed_sends", key="email", started_at=utcnow() - timedelta(hours=2)),
    ])  # fmt: skip
    events = compliance(session, camp)["risk_events"]
    assert [(e["kind"], e["key"], e["reported_after_seconds"]) for e in events] == [
        ("failed_sends", "sms", 0.0),
        ("budget_passed", f"campaign:{camp.id}", None),
    ]


def test_erasures_done_within_a_month_of_the_request_count_as_in_time(session: Session) -> None:
    camp = rows.campaign(session)
    camp.launched_at = utcnow() - timedelta(days=60)
    done = utcnow() - timedelta(days=1)
    session.add_all([
        ErasureRequest(recipient_id=1, asked_at=done - timedelta(days=3), done_at=done),
        ErasureRequest(recipient_id=2, asked_at=done - timedelta(days=45), done_at=done),
        # Done before the campaign ran: not this campaign's.
        ErasureRequest(recipient_id=3, asked_at=done - timedelta(days=90),
                       done_at=done - timedelta(days=80)),
    ])  # fmt: skip
    session.flush()
    assert compliance(session, camp)["erasures_in_time"] == {
        "done": 2,
        "in_time": 1,
        "deadline_days": 30,
    }


def test_without_complaints_no_deadline_fell_due(session: Session) -> None:
    figures = compliance(session, rows.campaign(session))
    assert figures["complaints_in_time"] == {"due": 0, "met": 0, "share": None}


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.sampled_from(["UTC", "Asia/Shanghai", "Asia/Kolkata"]),  # no daylight saving
    st.sampled_from(
        [NIGHTS, {"start": "13:00", "end": "14:30"}, {"start": "08:00", "end": "08:00"}]
    ),
)
def test_the_clock_reading_agrees_with_the_pipelines_window(
    naive: datetime, tz: str, window: dict[str, str]
) -> None:
    at = naive.replace(tzinfo=UTC)
    pipeline_says = quiet_window_around(at, zone_for(tz), window) is not None
    local = at.astimezone(zone_for(tz)).time()
    assert (
        in_window(local, parse_clock(window["start"]), parse_clock(window["end"])) == pipeline_says
    )
