"""Benchmark: what the money (``pipeline.cost``) and compliance (``pipeline.compliance``)
figures add to ``recall status`` on PostgreSQL, next to the rest of the status and a bare
``SELECT count(*)`` of the campaign's cases in the same run.

    python bench/cost_compliance.py [--cases 100000] [--runs 3]

The campaign is ``bench/status.py``'s (set-based fill), with every attempt sent an hour ago
in the recipient's zone and a few opt-outs, so every compliance query has rows to read.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from _support import drop_database, fresh_database
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from status import COUNT, FILL, STATES

from pipeline.compliance.figures import campaign_compliance
from pipeline.cost.budget import cost_of
from pipeline.cost.prices import price_list
from pipeline.db import make_engine
from pipeline.models import Campaign
from pipeline.reporting import tallies
from pipeline.reporting.metrics import campaign_status

SENT = "UPDATE attempt SET sent_at = claimed_at - interval '1 hour'"


def _median_ms(engine: Engine, runs: int, read: Callable[[Session], object]) -> float:
    times = []
    for _ in range(runs):
        with Session(engine) as session:
            started = time.perf_counter()
            read(session)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _campaign(session: Session) -> Campaign:
    campaign = session.get(Campaign, 1)
    assert campaign is not None
    return campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="recall_bench_cost_compliance")
    args = parser.parse_args()
    url = fresh_database(args.pg_admin_url, args.database)
    engine = make_engine(url)
    try:
        deadline = datetime.now(UTC) + timedelta(days=28)
        with engine.begin() as conn:
            for statement in [*FILL.split(";"), SENT]:
                if statement.strip():
                    params = {"n": args.cases, "states": STATES, "deadline": deadline}
                    conn.execute(text(statement), params)
        with Session(engine) as session:
            tallies.compact(session)
            session.commit()
        prices = price_list()
        count = _median_ms(engine, args.runs, lambda s: s.execute(text(COUNT)).scalar())
        status = _median_ms(engine, args.runs, lambda s: campaign_status(s, 1))
        cost = _median_ms(engine, args.runs, lambda s: cost_of(s, _campaign(s), prices))
        compliance = _median_ms(engine, args.runs, lambda s: campaign_compliance(s, _campaign(s)))
        print(f"{args.cases:,} cases, {args.runs} runs each, median")
        for label, ms in [
            ("SELECT count(*) of the cases (floor)", count),
            ("campaign_status (everything)", status),
            ("  of which cost (money)", cost),
            ("  of which compliance", compliance),
            ("  the rest of the status", status - cost - compliance),
        ]:
            print(f"{label:<40}: {ms:9.1f} ms  ({ms / count:6.2f} x the count)")
    finally:
        engine.dispose()
        drop_database(args.pg_admin_url, args.database)


if __name__ == "__main__":
    main()
