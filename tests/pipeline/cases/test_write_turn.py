"""SQLite has no SELECT ... FOR UPDATE: ``take_write_turn`` stands in for it, so two
transactions handling one case take turns instead of both acting on the same old state."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.cases.notify import load_case_for_update
from tests.pipeline_factories import make_campaign, make_case


def test_a_second_writer_waits_and_then_reads_the_first_ones_change(
    sqlite_engine: Engine,
) -> None:
    with Session(sqlite_engine) as session:
        case_id = make_case(session, make_campaign(session)).id
        session.commit()
    first_holds, second_read = threading.Event(), threading.Event()
    seen: list[int] = []

    def second() -> None:
        first_holds.wait(10)
        with Session(sqlite_engine) as session:
            case = load_case_for_update(session, case_id)  # waits for the first to commit
            assert case is not None
            seen.append(case.step)
            second_read.set()
            session.commit()

    thread = threading.Thread(target=second)
    thread.start()
    with Session(sqlite_engine) as session:
        case = load_case_for_update(session, case_id)
        assert case is not None
        first_holds.set()
        # Without the write turn the second would read step 0 now, while this one holds it.
        assert not second_read.wait(0.5)
        case.step += 1
        session.commit()
    thread.join(10)
    assert seen == [1]
