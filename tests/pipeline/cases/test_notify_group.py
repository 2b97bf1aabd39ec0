"""pipeline.cases.notify_group: many cases in one transaction, each in its own savepoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cases.notify import Outcome
from pipeline.cases.notify_group import notify_group
from pipeline.models import Attempt, Case
from pipeline.settings import Settings
from tests.pipeline_factories import NOW, make_campaign, make_case

SETTINGS = Settings(attempt_lease_seconds=600, sending_stale_seconds=300)


def seed(engine: Engine, cases: int) -> list[int]:
    with Session(engine) as session:
        campaign = make_campaign(session)
        ids = [make_case(session, campaign, n).id for n in range(cases)]
        session.commit()
    return ids


def claimed(engine: Engine) -> list[tuple[int, str]]:
    with Session(engine) as session:
        rows = session.execute(select(Attempt.case_id, Attempt.status).order_by(Attempt.case_id))
        return [(row.case_id, row.status) for row in rows]


def test_a_group_claims_each_case_once_and_a_redelivery_claims_nothing(engine: Engine) -> None:
    ids = seed(engine, 5)
    with Session(engine) as session, session.begin():
        group = notify_group(session, [*reversed(ids), ids[0]], NOW, SETTINGS)
    assert sorted(group.results) == ids and group.retry == []
    assert {r.outcome for r in group.results.values()} == {Outcome.SEND}
    assert claimed(engine) == [(case_id, "claimed") for case_id in ids]
    with Session(engine) as session, session.begin():
        again = notify_group(session, ids, NOW + timedelta(seconds=5), SETTINGS)
    assert {(r.outcome, r.reason) for r in again.results.values()} == {(Outcome.SKIP, "not_due")}
    assert claimed(engine) == [(case_id, "claimed") for case_id in ids]


def test_a_failing_case_is_rolled_back_alone_and_handed_back(engine: Engine) -> None:
    ids = seed(engine, 3)
    with Session(engine) as session:
        # A campaign whose stored ladder is corrupt: its case raises inside notify_case.
        broken = make_campaign(session)
        broken.policy = {"default": [{"wait": 1}]}
        bad = make_case(session, broken, 99).id
        session.commit()
    with Session(engine) as session, session.begin():
        group = notify_group(session, [*ids, bad], NOW, SETTINGS)
    assert group.retry == [bad] and sorted(group.results) == ids
    assert claimed(engine) == [(case_id, "claimed") for case_id in ids]
    with Session(engine) as session:
        assert session.get_one(Case, bad).state == "pending"
        assert {c.state for c in session.scalars(select(Case).where(Case.id.in_(ids)))} == {
            "notifying"
        }


def test_missing_cases_are_handed_back(engine: Engine) -> None:
    ids = seed(engine, 1)
    with Session(engine) as session, session.begin():
        group = notify_group(session, [ids[0], 10_000], NOW, SETTINGS)
    assert group.retry == [10_000] and list(group.results) == ids


def test_a_case_locked_elsewhere_is_skipped_not_waited_for(pg_engine: Engine) -> None:
    ids = seed(pg_engine, 3)
    with Session(pg_engine) as holder, holder.begin():
        holder.execute(select(Case.id).where(Case.id == ids[1]).with_for_update())
        with Session(pg_engine) as session, session.begin():
            group = notify_group(session, ids, NOW, SETTINGS)
    assert group.retry == [ids[1]] and sorted(group.results) == [ids[0], ids[2]]
    assert claimed(pg_engine) == [(ids[0], "claimed"), (ids[2], "claimed")]


@pytest.mark.parametrize("size", [1, 7])
def test_every_case_of_a_group_is_either_handled_or_handed_back(engine: Engine, size: int) -> None:
    ids = seed(engine, size)
    with Session(engine) as session, session.begin():
        group = notify_group(session, ids, NOW, SETTINGS)
    assert sorted([*group.results, *group.retry]) == ids
