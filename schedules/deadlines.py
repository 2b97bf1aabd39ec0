"""The scheduler's side of deadlines: what ``pipeline.campaigns.deadlines`` decided, made
known. A campaign closed at its deadline gets its final report written to
``RECALL_REPORT_DIR`` and is counted; newly overdue queries are counted, logged once each
and, when ``RECALL_ALERT_WEBHOOK_URL`` is set, posted as one JSON alert for a chat channel
(ids and masked contact data only).

The counters live in this process's default Prometheus registry, beside the jobs that feed
them, so the core keeps no counter and writes no file.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from sqlalchemy.orm import Session

from pipeline.campaigns import deadlines
from pipeline.campaigns.deadlines import OverdueQuery, post_alert
from pipeline.reporting import report
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

OVERDUE_QUERIES = Counter(
    "recall_overdue_queries_total", "Open queries that passed their answer-by time unanswered"
)
CAMPAIGNS_CLOSED = Counter(
    "recall_campaigns_closed_at_deadline_total", "Campaigns closed because their deadline passed"
)


def close_expired_campaigns(session: Session, now: datetime) -> list[int]:
    """Close every open campaign past its deadline (in the caller's transaction), write each
    one's final report files and count them; returns their ids."""
    closed = deadlines.close_expired_campaigns(session, now)
    for campaign_id in closed:
        write_final_reports(session, campaign_id)
        CAMPAIGNS_CLOSED.inc()
    return closed


def write_final_reports(session: Session, campaign_id: int) -> None:
    """The campaign's report in every format, under ``RECALL_REPORT_DIR`` when it is set."""
    directory = get_settings().report_dir
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    for fmt in report.FORMATS:
        path = Path(directory) / f"campaign-{campaign_id}-final.{fmt}"
        path.write_text(report.render_report(session, campaign_id, fmt), encoding="utf-8")


def alert_overdue(overdue: list[OverdueQuery], *, post: bool = True) -> None:
    """Raise the operational alert for newly overdue queries (call after commit); the
    scheduler leaves the post to the ``queries_overdue`` incident (``post=False``)."""
    if not overdue:
        return
    OVERDUE_QUERIES.inc(len(overdue))
    for item in overdue:
        log.warning("query.overdue", extra=asdict(item))
    url = get_settings().alert_webhook_url
    if url and post:
        post_alert(url, _alert_body(overdue))


def _alert_body(overdue: list[OverdueQuery]) -> dict[str, Any]:
    shown = overdue[:20]
    lines = [
        f"case {q.case_id} (campaign {q.campaign_id}, {q.contact}) due {q.due_at}" for q in shown
    ]
    more = f"\n…and {len(overdue) - len(shown)} more" if len(overdue) > len(shown) else ""
    return {
        "text": f"recall: {len(overdue)} open queries are overdue\n" + "\n".join(lines) + more,
        "event": "query.overdue",
        "queries": [asdict(q) for q in overdue],
    }
