"""A reply code is held by one active campaign at a time, and the database says so: two
launches at once cannot both keep the smallest free code; the one that loses retries inside
a savepoint and its launch goes on. A closed or cancelled campaign frees its code."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.campaigns.file import CampaignSpec, load_campaign_file
from pipeline.campaigns.launch import launch_campaign
from pipeline.db import session_scope
from pipeline.inbound.reply_codes import ACTIVE_CAMPAIGN_STATES, code_of, free_reply_code
from pipeline.models import Campaign
from tests import inbound_rows as rows

EXAMPLES = Path(__file__).parents[3] / "examples"
STATES = (*ACTIVE_CAMPAIGN_STATES, "closed", "cancelled")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign_file(EXAMPLES / "campaign.yaml")


def _holder(session: Session, state: str, code: str) -> bool:
    """Add a campaign in ``state`` holding ``code``; False when the database refused it."""
    try:
        with session.begin_nested():
            row = rows.campaign(session)
            row.state, row.reply_code = state, code
            session.flush()
    except IntegrityError:
        return False
    return True


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(STATES), min_size=1, max_size=6))
def test_only_one_active_campaign_may_hold_a_code(session: Session, states: list[str]) -> None:
    code = str(100 + len(session.scalars(select(Campaign.id)).all()))  # fresh per example
    active = 0
    for state in states:
        kept = _holder(session, state, code)
        assert kept == (state not in ACTIVE_CAMPAIGN_STATES or active == 0)
        active += kept and state in ACTIVE_CAMPAIGN_STATES


def test_a_closed_campaign_frees_its_code(engine: Engine, spec: CampaignSpec) -> None:
    first = launch_campaign(engine, spec, EXAMPLES / "users.csv")
    with session_scope(engine) as session:
        held = session.get_one(Campaign, first).reply_code
        assert held is not None and free_reply_code(session) != held
        session.get_one(Campaign, first).state = "closed"
    again = launch_campaign(engine, spec, EXAMPLES / "users.csv")
    with session_scope(engine) as session:
        assert session.get_one(Campaign, again).reply_code == held


def _codes(engine: Engine) -> list[str | None]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Campaign.reply_code).order_by(Campaign.id)))


def test_two_launches_at_once_get_different_codes(pg_engine: Engine, spec: CampaignSpec) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            launch_campaign(pg_engine, spec, EXAMPLES / "users.csv")
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    codes = _codes(pg_engine)
    assert len(codes) == 2 and None not in codes and len(set(codes)) == 2


def _wait_for_lock_wait(engine: Engine, done: threading.Event) -> None:
    """Until another backend of this database waits on a lock (the unique index holding the
    second launch until the first commits). Polls; fails only if that never happens."""
    for _ in range(1200):
        with engine.connect() as conn:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
        if waiting or done.is_set():
            return
        time.sleep(0.05)
    raise AssertionError("the second launch never waited for the first one's code")


def test_a_launch_that_loses_the_race_retries_with_another_code(
    pg_engine: Engine, spec: CampaignSpec
) -> None:
    # The first "launch" takes the smallest free code and keeps its transaction open; the
    # second sees that code free too, so its insert must wait on the index, fail once the
    # first commits, and retry in its savepoint with the next code.
    done = threading.Event()
    launched: list[int] = []
    errors: list[BaseException] = []

    def second() -> None:
        try:
            launched.append(launch_campaign(pg_engine, spec, EXAMPLES / "users.csv"))
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    with pg_engine.begin() as conn:
        code = free_reply_code(conn)
        conn.execute(
            insert(Campaign).values(
                name="first",
                reason="product_quality",
                description="d",
                remedy="r",
                help_text="",
                spec={},
                policy={},
                completion="on_agree",
                deadline=spec.deadline,
                state="running",
                fan_out_cursor=0,
                reply_code=code,
            )
        )
        thread = threading.Thread(target=second)
        thread.start()
        _wait_for_lock_wait(pg_engine, done)
        assert not done.is_set(), "the second launch did not wait for the first's code"
    thread.join(120)
    assert errors == [] and len(launched) == 1
    with session_scope(pg_engine) as session:
        second_code = session.get_one(Campaign, launched[0]).reply_code
    assert second_code is not None and second_code != code
    assert sorted(_codes(pg_engine), key=str) == sorted([code, second_code])


def test_a_code_given_late_also_retries(pg_engine: Engine) -> None:
    # code_of (a campaign launched before codes existed) races the same way: it waits on
    # the index, then takes the next free code, its session still usable.
    with session_scope(pg_engine) as setup:
        late_ids = []
        for _ in range(2):
            row = rows.campaign(setup)
            row.reply_code = None
            late_ids.append(row.id)
    done = threading.Event()
    got: list[str] = []
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with session_scope(pg_engine) as session:
                got.append(code_of(session, session.get_one(Campaign, late_ids[1])))
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    with session_scope(pg_engine) as session:
        mine = code_of(session, session.get_one(Campaign, late_ids[0]))
        thread = threading.Thread(target=other)
        thread.start()
        _wait_for_lock_wait(pg_engine, done)
        assert not done.is_set()
    thread.join(120)
    assert errors == [] and len(got) == 1 and got[0] != mine
