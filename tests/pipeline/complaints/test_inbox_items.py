"""The team's inbox: filters, pages, each item's own deadline, and the atomic take."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.clock import as_utc
from pipeline.complaints import records
from pipeline.complaints.stages import INVESTIGATING
from pipeline.db import session_factory
from pipeline.errors import InputError, InvalidState
from pipeline.followups import claims
from pipeline.followups.inbox_items import InboxFilter, inbox_page
from pipeline.models import Case as _Case
from tests.pipeline_factories import make_campaign, make_case

NOW = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)  # a Thursday


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


def _open_query(session: Session, case_id: int, *, due: datetime, channel: str = "sms") -> None:
    case = session.get(_Case, case_id)
    assert case is not None
    case.state, case.query_due_at, case.answered_channel = "query_open", due, channel
    case.last_response_at = due - timedelta(hours=24)


def _fill(session: Session) -> tuple[int, int, list[int]]:
    """Two campaigns; five open questions, one of them a complaint; one case not in the inbox."""
    first, second = make_campaign(session), make_campaign(session)
    second.name = "Heater recall"
    ids = []
    for n in range(5):
        campaign = first if n < 3 else second
        case = make_case(session, campaign, n, locale="zh-CN" if n == 4 else "en")
        _open_query(session, case.id, due=NOW + timedelta(hours=n - 2),
                    channel="email" if n == 3 else "sms")  # fmt: skip
        ids.append(case.id)
    make_case(session, first, 9)  # pending: no question, not in the inbox
    complaint_case = session.get(_Case, ids[4])
    assert complaint_case is not None
    records.on_question(session, complaint_case, "我要投诉", "sms", NOW, [])
    session.flush()
    return first.id, second.id, ids


def test_every_filter_and_each_items_own_deadline(session: Session) -> None:
    first, second, ids = _fill(session)
    whole = inbox_page(session, NOW)
    assert whole.total == 5
    # Nearest deadline first: the two overdue questions, then the rest; the complaint's due
    # is its stage's (2 working days), not a global 24 h.
    assert [i.case_id for i in whole.items] == ids
    assert [i.overdue for i in whole.items] == [True, True, False, False, False]
    complaint = whole.items[-1]
    assert (complaint.kind, complaint.stage, complaint.complaint_type) == (
        "complaint", "routed", "general"
    )  # fmt: skip
    assert complaint.due_at == datetime(2026, 3, 9, 10, tzinfo=UTC)

    def ids_of(**f: object) -> list[int]:
        return [i.case_id for i in inbox_page(session, NOW, InboxFilter(**f)).items]  # type: ignore[arg-type]

    assert ids_of(campaign_id=second) == ids[3:]
    assert ids_of(kind="complaint") == [ids[4]]
    assert ids_of(kind="question") == ids[:4]
    assert ids_of(kind="refusal_demand") == []
    assert ids_of(stage="routed") == [ids[4]]
    assert ids_of(stage="open") == ids[:4]
    assert ids_of(overdue=True) == ids[:2]
    assert ids_of(overdue=False) == ids[2:]
    assert ids_of(language="zh-CN") == [ids[4]]
    assert ids_of(channel="email") == [ids[3]]
    assert ids_of(campaign_id=first, overdue=False) == [ids[2]]


def test_pages_cover_every_item_once(session: Session) -> None:
    _, _, ids = _fill(session)
    pages = [inbox_page(session, NOW, page=n, per_page=2) for n in (1, 2, 3, 4)]
    assert [p.pages for p in pages] == [3, 3, 3, 3]
    assert [i.case_id for p in pages for i in p.items] == ids
    assert pages[3].items == []
    with pytest.raises(InputError, match="page: must be 1 or more"):
        inbox_page(session, NOW, page=0)
    with pytest.raises(InputError, match="per_page"):
        inbox_page(session, NOW, per_page=1000)
    with pytest.raises(InputError, match="kind: must be one of"):
        InboxFilter(kind="rant")


def test_a_complaint_stays_in_the_inbox_after_its_question_is_answered(session: Session) -> None:
    _, _, ids = _fill(session)
    case = session.get(_Case, ids[4])
    assert case is not None
    case.state = "awaiting_response"
    complaint = records.complaint_of(session, case.id)
    assert complaint is not None
    records.move(session, complaint.id, INVESTIGATING, "user:ann", NOW)
    items = inbox_page(session, NOW, InboxFilter(kind="complaint")).items
    assert [(i.case_id, i.stage) for i in items] == [(ids[4], "investigating")]


def test_take_release_and_owner_filter(session: Session) -> None:
    _, _, ids = _fill(session)
    assert claims.take(session, ids[0], "user:ann", NOW) == "user:ann"
    assert claims.take(session, ids[0], "user:bob", NOW) == "user:ann"
    with pytest.raises(InvalidState, match="taken by user:ann"):
        claims.require_owner(session, ids[0], "user:bob", NOW)
    claims.require_owner(session, ids[0], "user:ann", NOW)
    assert [i.owner for i in inbox_page(session, NOW).items][:2] == ["user:ann", None]
    assert len(inbox_page(session, NOW, InboxFilter(owner="nobody")).items) == 4
    assert not claims.release(session, ids[0], "user:bob")
    assert claims.release(session, ids[0], "user:ann")
    assert claims.owner_of(session, ids[0]) is None


def test_two_agents_racing_for_one_item_on_postgresql(pg_engine: Engine) -> None:
    """Both sessions insert at once; PostgreSQL lets one win, the other sees the winner."""
    factory = session_factory(pg_engine)
    with factory() as session:
        _, _, ids = _fill(session)
        session.commit()
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def race(agent: str) -> None:
        with factory() as session:
            barrier.wait()
            results[agent] = claims.take(session, ids[0], agent, NOW)
            session.commit()

    threads = [threading.Thread(target=race, args=(a,)) for a in ("user:ann", "user:bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winner = results["user:ann"]
    assert results == {"user:ann": winner, "user:bob": winner}
    with factory() as session:
        assert claims.owner_of(session, ids[0]) == winner


def test_a_refusal_demand_is_an_inbox_item_with_its_own_deadline_until_closed(
    session: Session,
) -> None:
    from pipeline.followups.demands import close_demand, open_demand

    _fill(session)
    campaign = make_campaign(session)
    refuser = make_case(session, campaign, 20)
    refuser.state = "refused"
    demand = open_demand(session, refuser, "want_compensation", "pay me back", NOW)
    session.flush()

    demands = inbox_page(session, NOW, InboxFilter(kind="refusal_demand")).items
    assert [(item.case_id, item.kind) for item in demands] == [(refuser.id, "refusal_demand")]
    assert demands[0].due_at is not None and demand.due_at is not None
    assert as_utc(demands[0].due_at) == as_utc(demand.due_at)  # the demand's own deadline
    assert inbox_page(session, NOW).total == 6
    assert refuser.id not in [
        i.case_id for i in inbox_page(session, NOW, InboxFilter(kind="question")).items
    ]

    close_demand(session, demand.id, "ann", NOW)
    session.flush()
    assert inbox_page(session, NOW, InboxFilter(kind="refusal_demand")).items == []
    assert inbox_page(session, NOW).total == 5
