"""Benchmark: what one run of the scheduler's incident check costs the database when the
attempt table holds a million rows (finished over the last day) and the audit log its
newest rows, next to a bare ``SELECT count(*)`` of the attempts in the same run — the floor
of any query that looks at every attempt, which the check must stay well under.

    python bench/incidents.py [--attempts 1000000] [--audit-rows 5000]

Reported: the failed-send spike query alone (it reads the window through the
``completed_at`` index), the audit check of the newest rows, and the whole database part of
the check (``IncidentWatch.run`` without a broker), each the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from _support import drop_database, fresh_database
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.clock import utcnow
from pipeline.db import make_engine
from pipeline.privacy import audit
from pipeline.reporting.incident_checks import audit_breaks, failed_send_spikes
from schedules.incident_job import IncidentWatch

FILL = """
INSERT INTO campaign (id, name, reason, description, remedy, help_text, spec, policy,
    completion, deadline, state, fan_out_cursor, created_at)
VALUES (1, 'bench', 'product_quality', 'd', 'r', '', '{}', '{}', 'on_agree',
    now() + interval '28 days', 'running', 0, now());
INSERT INTO recipient (id, external_id, name, phone, email, locale, timezone, risk_tier,
    sms_opted_out, email_opted_out, voice_opted_out, created_at, updated_at)
SELECT g, 'u' || g, 'n', '+1415' || lpad(g::text, 7, '0'), NULL, 'en', 'UTC', 2,
    false, false, false, now(), now() FROM generate_series(1, :n) g;
INSERT INTO recall_case (id, campaign_id, recipient_id, state, step, created_at, updated_at)
SELECT g, 1, g, 'awaiting_response', 0, now(), now() FROM generate_series(1, :n) g;
INSERT INTO attempt (case_id, channel, step, status, status_history, cost_units, tries,
    claimed_at, updated_at, completed_at)
SELECT g, (ARRAY['sms','email','voice'])[1 + g % 3], 0,
    CASE WHEN g % 7 = 0 THEN 'failed' ELSE 'delivered' END, '[]', 1, 1, now(), now(),
    now() - (g % 86400) * interval '1 second'
FROM generate_series(1, :n) g;
ANALYZE;
"""
COUNT = "SELECT count(*) FROM attempt"


def _median_ms(runs: int, read: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _fill(engine: Engine, attempts: int, audit_rows: int) -> None:
    with engine.begin() as conn:
        for statement in FILL.split(";"):
            if statement.strip():
                conn.execute(text(statement), {"n": attempts})
    with Session(engine) as session:
        for n in range(audit_rows):
            audit.record(session, actor="bench", action="case.changed", entity=f"case:{n}", data={})
        session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--audit-rows", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    name = "recall_bench_incidents"
    engine = make_engine(fresh_database(args.pg_admin_url, name))
    try:
        started = time.perf_counter()
        _fill(engine, args.attempts, args.audit_rows)
        print(f"filled {args.attempts:,} attempts, {args.audit_rows:,} audit rows "
              f"in {time.perf_counter() - started:.1f}s")  # fmt: skip

        def in_session(read: Callable[[Session], object]) -> Callable[[], object]:
            def run() -> object:
                with Session(engine) as session:
                    return read(session)

            return run

        count = _median_ms(args.runs, in_session(lambda s: s.execute(text(COUNT)).scalar()))
        spikes = _median_ms(
            args.runs, in_session(lambda s: failed_send_spikes(s, utcnow(), 10, 20, 0.2))
        )
        audits = _median_ms(args.runs, in_session(lambda s: audit_breaks(s, args.audit_rows)))
        watch = IncidentWatch(sessionmaker(bind=engine, expire_on_commit=False))
        whole = _median_ms(args.runs, watch.run)
        for label, ms in [
            ("SELECT count(*) of the attempts (the floor)", count),
            ("failed-send spike query (10 min window)", spikes),
            (f"audit check of the newest {args.audit_rows:,} rows", audits),
            ("the whole database check (IncidentWatch.run)", whole),
        ]:
            print(f"{label:<48}: {ms:8.1f} ms  ({ms / count:5.2f} x the count)")
    finally:
        engine.dispose()
        drop_database(args.pg_admin_url, name)


if __name__ == "__main__":
    main()
