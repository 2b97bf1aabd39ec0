"""A campaign's compliance, figure by figure (the status JSON's ``compliance``).

- ``notices``: sent, and how many stated every part the policy requires (launch check);
- ``quiet_hours_sends``: notices sent inside quiet hours (0 unless the file overrides them;
  the overrides listed);
- ``sends_after_opt_out`` (must be 0) and ``stop_to_suppression`` (seconds);
- ``over_frequency_caps``: sends beyond the per-person daily caps (must be 0);
- ``audit``: the audit chain's last verification and its result;
- ``erasures_in_time``: erasure requests done while the campaign ran, and how many within
  ``ERASURE_DEADLINE_DAYS`` of being asked (the month data-protection law allows);
- ``complaints_in_time``: the campaign's complaint deadlines that fell due, and how many
  were kept (``pipeline.complaints.stats``);
- ``risk_events``: incidents while the campaign ran, and how fast each was reported.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from pipeline.clock import as_utc, utcnow
from pipeline.complaints.stats import complaint_stats
from pipeline.compliance import records, sends
from pipeline.models import Campaign
from pipeline.privacy.figures import erasures_during

# An erasure request must be done within a month of being asked (GDPR art. 12(3); PIPL
# asks for "timely" deletion): the figure counts those done within this many days.
ERASURE_DEADLINE_DAYS = 30


def campaign_compliance(session: Session, campaign: Campaign) -> dict[str, Any]:
    return {
        "notices": records.notices_figure(session, campaign),
        "quiet_hours_sends": sends.quiet_hours_sends(session, campaign),
        "sends_after_opt_out": sends.sends_after_opt_out(session, campaign.id),
        "stop_to_suppression": sends.stop_to_suppression(session, campaign.id),
        "over_frequency_caps": sends.over_frequency_caps(session, campaign.id),
        "audit": records.last_verification(session),
        "erasures_in_time": erasures_in_time(session, campaign),
        "complaints_in_time": complaints_in_time(session, campaign),
        "risk_events": records.risk_events(session, campaign),
    }


def erasures_in_time(session: Session, campaign: Campaign) -> dict[str, Any]:
    done = erasures_during(session, campaign)
    kept = sum(
        (
            as_utc(datetime.fromisoformat(row["done_at"]))
            - as_utc(datetime.fromisoformat(row["asked_at"]))
        )
        <= timedelta(days=ERASURE_DEADLINE_DAYS)
        for row in done
        if row["asked_at"] and row["done_at"]
    )
    return {"done": len(done), "in_time": kept, "deadline_days": ERASURE_DEADLINE_DAYS}


def complaints_in_time(session: Session, campaign: Campaign) -> dict[str, Any]:
    deadlines = complaint_stats(session, utcnow(), campaign_id=campaign.id)["deadlines"]
    due = sum(figure["due"] for figure in deadlines.values())
    met = sum(figure["met"] for figure in deadlines.values())
    return {"due": due, "met": met, "share": round(met / due, 4) if due else None}


def _moment(iso: str) -> datetime:
    return as_utc(datetime.fromisoformat(iso))
