"""pipeline.cases.sweep: due and lost work is claimed from the database, once per round."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.cases.sweep import claim_due_cases, claim_fan_out_chunk, claim_unhandled_events
from pipeline.models import Case, InboundEvent
from pipeline.settings import Settings
from tests.pipeline_factories import NOW, make_campaign, make_case

SETTINGS = Settings(requeue_after_seconds=600)


def test_due_cases_are_claimed_once_until_their_message_is_presumed_lost(engine: Engine) -> None:
    with Session(engine) as session:
        running = make_campaign(session)
        due = [make_case(session, running, n).id for n in range(3)]
        make_case(session, running, 9, due=NOW + timedelta(hours=1))
        paused = make_campaign(session, state="paused")
        make_case(session, paused, 1)
        done = make_case(session, running, 10)
        done.state = "completed"
        session.commit()
        assert claim_due_cases(session, NOW, 10, settings=SETTINGS) == due
        assert claim_due_cases(session, NOW + timedelta(seconds=599), 10, settings=SETTINGS) == []
        # No case.notify handled them in ten minutes: the messages went missing.
        later = NOW + timedelta(seconds=601)
        assert claim_due_cases(session, later, 2, settings=SETTINGS) == due[:2]
        assert session.get(Case, due[0]).enqueued_at == later  # type: ignore[union-attr]
        assert claim_due_cases(session, later, 10, campaign_id=paused.id, settings=SETTINGS) == []


def test_a_handled_case_is_due_again_at_its_next_due_time(engine: Engine) -> None:
    with Session(engine) as session:
        case = make_case(session, make_campaign(session))
        assert claim_due_cases(session, NOW, 10, settings=SETTINGS) == [case.id]
        case.enqueued_at, case.next_due_at = None, NOW + timedelta(seconds=30)  # case.notify ran
        session.commit()
        assert claim_due_cases(session, NOW + timedelta(seconds=29), 10, settings=SETTINGS) == []
        assert claim_due_cases(session, NOW + timedelta(seconds=30), 10, settings=SETTINGS) == [
            case.id
        ]


def test_concurrent_sweeps_never_hand_out_a_case_twice(pg_engine: Engine) -> None:
    with Session(pg_engine) as session:
        campaign = make_campaign(session)
        for n in range(300):
            make_case(session, campaign, n)
        session.commit()
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def sweep() -> None:
        barrier.wait()
        mine: list[int] = []
        while True:
            with Session(pg_engine) as session, session.begin():
                ids = claim_due_cases(session, NOW, 25, settings=SETTINGS)
            if not ids:
                break
            mine += ids
        claimed.append(mine)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [case_id for ids in claimed for case_id in ids]
    assert len(every) == 300 == len(set(every))


def test_fan_out_chunks_resume_from_the_cursor(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = make_campaign(session)
        ids = [make_case(session, campaign, n).id for n in range(5)]
        session.commit()
        assert claim_fan_out_chunk(session, campaign.id, NOW, 2) == ids[:2]
        session.commit()
        assert campaign.fan_out_cursor == ids[1]
        assert claim_fan_out_chunk(session, campaign.id, NOW, 10) == ids[2:]
        assert claim_fan_out_chunk(session, campaign.id, NOW, 10) == []
        assert {session.get(Case, i).enqueued_at for i in ids} == {NOW}  # type: ignore[union-attr]


def _event(session: Session, n: int, received: datetime, handled: bool = False) -> int:
    event = InboundEvent(
        provider="twilio",
        kind="sms",
        provider_event_id=f"SMsweep{n}",
        payload={"Body": "YES"},
        received_at=received,
        handled_at=received if handled else None,
    )
    session.add(event)
    session.flush()
    return event.id


def test_webhooks_whose_message_was_lost_are_handed_on_again(engine: Engine) -> None:
    settings = Settings(inbound_requeue_after_seconds=120)
    with Session(engine) as session:
        stuck = _event(session, 1, NOW - timedelta(minutes=5))
        _event(session, 2, NOW - timedelta(minutes=5), handled=True)
        _event(session, 3, NOW - timedelta(seconds=30))  # its message may still be queued
        _event(session, 4, NOW - timedelta(days=2))  # failed for a day: left to operations
        session.commit()
        assert claim_unhandled_events(session, NOW, 10, settings=settings) == [stuck]
        # Handed on once per interval, not on every scan.
        soon = NOW + timedelta(seconds=60)
        assert claim_unhandled_events(session, soon, 10, settings=settings) == []
        later = NOW + timedelta(seconds=121)
        assert stuck in claim_unhandled_events(session, later, 10, settings=settings)


def test_a_lost_message_is_found_again_once_its_claim_expires(engine: Engine) -> None:
    """A fan-out's fresh claims are not read by the sweep, but a claim whose message was
    lost (no case.notify cleared it) comes back once it is older than requeue_after."""
    with Session(engine) as session:
        campaign = make_campaign(session)
        ids = [make_case(session, campaign, n).id for n in range(4)]
        session.commit()
        assert claim_fan_out_chunk(session, campaign.id, NOW, 10) == ids
        session.commit()
        # case.notify handled the first two: one is due later, one stopped.
        handled = session.get(Case, ids[0])
        handled.enqueued_at, handled.next_due_at = None, NOW + timedelta(hours=1)  # type: ignore[union-attr]
        stopped = session.get(Case, ids[1])
        stopped.enqueued_at, stopped.next_due_at = None, None  # type: ignore[union-attr]
        session.commit()
        assert claim_due_cases(session, NOW + timedelta(seconds=600), 10, settings=SETTINGS) == []
        later = NOW + timedelta(seconds=601)
        assert claim_due_cases(session, later, 10, settings=SETTINGS) == ids[2:]
        assert {session.get(Case, i).enqueued_at for i in ids[2:]} == {later}  # type: ignore[union-attr]
        # Claimed again: not handed out a second time until this claim expires too.
        assert claim_due_cases(session, later + timedelta(seconds=599), 10, settings=SETTINGS) == []


def test_a_paused_campaign_keeps_its_due_cases_until_it_runs(engine: Engine) -> None:
    with Session(engine) as session:
        small = make_campaign(session)
        big = make_campaign(session)
        paused = make_campaign(session, state="paused")
        few = [make_case(session, small, n).id for n in range(2)]
        many = [make_case(session, big, 100 + n).id for n in range(10)]
        make_case(session, paused, 200)
        session.commit()
        # Equal shares first; what the small campaign leaves goes to the big one.
        first = claim_due_cases(session, NOW, 6, settings=SETTINGS)
        assert set(few) <= set(first) and len(first) == 6
        rest = claim_due_cases(session, NOW, 100, settings=SETTINGS)
        assert sorted(first + rest) == sorted(few + many)
