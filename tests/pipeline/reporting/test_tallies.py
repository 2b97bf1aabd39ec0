"""The counters PostgreSQL keeps for each campaign (pipeline.reporting.tallies) always equal a
recount
from the rows, whatever changed them: the ORM, set-based statements, deletes, concurrent
transactions, compaction running beside writers, and a migration over existing rows."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from pipeline.campaigns.file import load_campaign_file
from pipeline.campaigns.launch import launch_campaign
from pipeline.cases import control
from pipeline.models import Attempt, CampaignTally, Case, Response
from pipeline.reporting import tallies
from pipeline.reporting.metrics import counts_from_rows, counts_from_tallies
from tests.pipeline_factories import NOW

pytestmark = pytest.mark.postgres
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _launch(engine: Engine) -> int:
    spec = load_campaign_file(EXAMPLES / "campaign.yaml")
    return launch_campaign(engine, spec, EXAMPLES / "users.csv")


def _agree(session: Session, case: Case, seconds: int, channel: str = "sms") -> None:
    case.state, case.answered_step, case.answered_channel = "completed", 0, channel
    case.first_notified_at = NOW
    case.last_response_at = NOW + timedelta(seconds=seconds)
    case.reached_at = NOW
    session.add(Response(case_id=case.id, channel=channel, kind="agree", raw_text="YES"))
    session.add(
        Attempt(case_id=case.id, channel=channel, step=0, status="delivered", cost_units=0.0079,
                sent_at=NOW)
    )  # fmt: skip


def _assert_counted(session: Session, campaign_id: int) -> None:
    assert tallies.read(session, campaign_id) == pytest.approx(
        tallies.recount(session, campaign_id)
    )


def test_a_launch_counts_every_case_as_pending(pg_engine: Engine) -> None:
    campaign_id = _launch(pg_engine)  # COPY + one set-based INSERT
    with Session(pg_engine) as session:
        assert tallies.read(session, campaign_id) == {"state:pending": 32.0}


def test_orm_changes_set_based_updates_and_deletes_are_all_counted(pg_engine: Engine) -> None:
    campaign_id, other = _launch(pg_engine), _launch(pg_engine)
    with Session(pg_engine) as session:
        cases = session.scalars(
            select(Case).where(Case.campaign_id == campaign_id).order_by(Case.id)
        ).all()
        for n, case in enumerate(cases[:10]):
            _agree(session, case, 60 * (n + 1), "sms" if n % 2 else "email")
        session.commit()
        _assert_counted(session, campaign_id)
        # A late change of mind moves the case, its answer time and its step.
        cases[0].state, cases[0].last_response_at = "refused", NOW + timedelta(hours=5)
        session.add(Response(case_id=cases[0].id, channel="sms", kind="refuse"))
        session.execute(  # set-based, as the sweep and launch write
            update(Attempt).where(Attempt.case_id == cases[1].id).values(status="failed")
        )
        session.execute(text("DELETE FROM response WHERE case_id = :c"), {"c": cases[2].id})
        session.delete(cases[3])  # cascades to its attempt and response
        session.commit()
        _assert_counted(session, campaign_id)
        control.cancel(session, campaign_id, "test")
        session.commit()
        _assert_counted(session, campaign_id)
        _assert_counted(session, other)
        facts = tallies.read(session, campaign_id)
        assert facts["state:cancelled"] == 31 - 8  # 31 cases left, 8 of them answered
        assert facts["response:refuse:sms"] == 1 and facts["status:sms:failed"] == 1
        assert facts["error:sms:none"] == 1
        assert tallies.read(session, other) == {"state:pending": 32.0}


def test_statements_that_change_no_figure_append_nothing(pg_engine: Engine) -> None:
    campaign_id = _launch(pg_engine)
    with Session(pg_engine) as session:
        before = session.scalar(select(func.count()).select_from(CampaignTally))
        session.execute(update(Case).values(next_due_at=NOW, enqueued_at=NOW))
        session.commit()
        after = session.scalar(select(func.count()).select_from(CampaignTally))
        assert after == before
        assert tallies.read(session, campaign_id) == {"state:pending": 32.0}


def test_status_from_tallies_equals_status_from_rows(pg_engine: Engine) -> None:
    campaign_id = _launch(pg_engine)
    with Session(pg_engine) as session:
        cases = session.scalars(select(Case).where(Case.campaign_id == campaign_id)).all()
        for n, case in enumerate(cases[:9]):
            _agree(session, case, 7 * 3**n)  # 7 s … 12 hours
        session.commit()
        kept = counts_from_tallies(tallies.read(session, campaign_id))
        scanned = counts_from_rows(session, campaign_id)
    exact_median = scanned.median_seconds_to_answer
    assert exact_median == 7 * 3**4
    assert kept.median_seconds_to_answer == pytest.approx(exact_median, rel=0.022)
    kept.median_seconds_to_answer = scanned.median_seconds_to_answer = None
    assert kept == scanned


def test_concurrent_writers_never_wait_for_each_other_and_lose_nothing(
    pg_engine: Engine,
) -> None:
    campaign_id = _launch(pg_engine)
    with Session(pg_engine) as session:
        ids = session.scalars(select(Case.id).where(Case.campaign_id == campaign_id)).all()
    errors: list[BaseException] = []

    def write(mine: list[int]) -> None:
        try:
            for _ in range(5):  # every case through several states, one transaction each
                for state in ("notifying", "awaiting_response", "agreed", "completed"):
                    with Session(pg_engine) as session, session.begin():
                        for case_id in mine:
                            session.execute(
                                update(Case).where(Case.id == case_id).values(state=state)
                            )
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    def fold() -> None:
        for _ in range(20):
            with Session(pg_engine) as session, session.begin():
                tallies.compact(session)

    # Each writer updates two cases in opposite order to its neighbour: counter rows updated
    # in place would deadlock here; appended deltas cannot.
    threads = [threading.Thread(target=write, args=(ids[i : i + 2][:: 1 - 2 * (i % 2)],))
               for i in range(0, 16, 2)]  # fmt: skip
    threads.append(threading.Thread(target=fold))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with Session(pg_engine) as session:
        _assert_counted(session, campaign_id)
        facts = tallies.read(session, campaign_id)
    assert facts == {"state:completed": 16.0, "state:pending": 16.0}


def test_compaction_folds_to_one_row_per_fact_and_changes_no_figure(pg_engine: Engine) -> None:
    campaign_id = _launch(pg_engine)
    with Session(pg_engine) as session:
        for case in session.scalars(select(Case).where(Case.campaign_id == campaign_id)):
            _agree(session, case, 90)
            session.flush()  # one statement (and one delta) per case
        session.commit()
        before = tallies.read(session, campaign_id)
        rows = session.scalar(select(func.count()).select_from(CampaignTally))
        folded = tallies.compact(session)
        session.commit()
        assert tallies.read(session, campaign_id) == pytest.approx(before)
        left = session.scalar(select(func.count()).select_from(CampaignTally))
        assert left == len(before) and folded == rows - left
        assert tallies.compact(session) == 0


def test_folding_leaves_campaigns_with_nothing_new_alone(pg_engine: Engine) -> None:
    quiet, busy = _launch(pg_engine), _launch(pg_engine)
    with Session(pg_engine) as session:
        tallies.compact(session)
        session.commit()
        ids = select(CampaignTally.id).where(CampaignTally.campaign_id == quiet)
        before = set(session.scalars(ids))
        case = session.scalars(select(Case).where(Case.campaign_id == busy)).first()
        assert case is not None
        case.state = "notifying"
        session.commit()
        assert tallies.compact(session) == 1  # busy: 32 pending, +1 notifying, -1 pending → 2 rows
        session.commit()
        assert set(session.scalars(ids)) == before  # quiet's rows were not rewritten
        assert tallies.read(session, busy) == {"state:pending": 31.0, "state:notifying": 1.0}


def test_installing_over_existing_rows_counts_them(pg_engine: Engine) -> None:
    """What the 0002 migration does to a database that already holds campaigns."""
    with pg_engine.begin() as conn:
        tallies.uninstall(conn)
    campaign_id = _launch(pg_engine)
    with Session(pg_engine) as session:
        assert tallies.read(session, campaign_id) == {}
    with pg_engine.begin() as conn:
        tallies.install(conn)
        tallies.install(conn)  # idempotent
    with Session(pg_engine) as session:
        assert tallies.read(session, campaign_id) == {"state:pending": 32.0}


@pytest.mark.parametrize("seconds", [0, 0.5, 1, 1.5, 2, 59.9, 60, 3600, 86_400 * 30])
def test_sql_and_python_put_an_answer_time_in_the_same_bucket(
    pg_engine: Engine, seconds: float
) -> None:
    with pg_engine.connect() as conn:
        bucket = conn.scalar(text("SELECT recall_answer_bucket(:s)"), {"s": seconds})
    assert bucket == tallies.answer_bucket(seconds)
    if seconds >= 1:
        assert tallies.bucket_midpoint(bucket) == pytest.approx(seconds, rel=0.022)


def test_median_from_histogram() -> None:
    bucket = tallies.answer_bucket
    assert tallies.median_from_histogram({}) is None
    assert tallies.median_from_histogram({bucket(60): 1, bucket(120): 1, bucket(300): 1}) == (
        pytest.approx(120, rel=0.022)
    )
    even = {bucket(60): 1, bucket(120): 1, bucket(300): 1, bucket(600): 1}
    assert tallies.median_from_histogram(even) == pytest.approx(210, rel=0.022)
    assert tallies.median_from_histogram({bucket(10): 1000, bucket(10_000): 999}) == (
        pytest.approx(10, rel=0.022)
    )
