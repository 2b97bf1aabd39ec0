"""The scheduler's side of deadlines: what ``pipeline.campaigns.deadlines`` decided, made
known. A campaign closed at its deadline gets its final report (html, csv, json) written
to ``RECALL_REPORT_DIR`` and is counted, and so does a cancelled one at the next check;
newly overdue queries are counted, logged once each
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
from pipeline.reporting import final_report, report
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
    write_missing_final_reports(session)
    return closed


def final_report_path(directory: str | Path, campaign_id: int, fmt: str) -> Path:
    return Path(directory) / f"campaign-{campaign_id}-final.{fmt}"


def write_final_reports(session: Session, campaign_id: int) -> None:
    """The campaign's report in every format, under ``RECALL_REPORT_DIR`` when it is set."""
    directory = get_settings().report_dir
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    # The html goes last and each file appears whole (renamed into place): its presence
    # says the set is complete (write_missing_final_reports relies on it).
    for fmt in sorted(report.FORMATS, key=lambda f: f == "html"):
        path = final_report_path(directory, campaign_id, fmt)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(report.render_report(session, campaign_id, fmt), encoding="utf-8")
        partial.replace(path)


def write_missing_final_reports(session: Session) -> list[int]:
    """Final reports for ended campaigns that have none yet: a cancelled campaign (cancel
    comes from the CLI or the dashboard, which write no files), or one whose report could
    not be written when it closed. Returns the ids written."""
    directory = get_settings().report_dir
    if not directory:
        return []
    missing = [
        campaign_id
        for campaign_id in final_report.ended_campaigns(session)
        if not final_report_path(directory, campaign_id, "html").exists()
    ]
    for campaign_id in missing:
        write_final_reports(session, campaign_id)
    return missing


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
