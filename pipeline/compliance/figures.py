"""A campaign's compliance, figure by figure (the status JSON's ``compliance``).

- ``notices``: sent, and how many stated every part the policy requires (launch check);
- ``quiet_hours_sends``: notices sent inside quiet hours (0 unless the file overrides them;
  the overrides listed);
- ``sends_after_opt_out`` (must be 0) and ``stop_to_suppression`` (seconds);
- ``over_frequency_caps``: sends beyond the per-person daily caps (must be 0);
- ``audit``: the audit chain's last verification and its result;
- ``erasures_in_time`` / ``complaints_in_time``: ``None`` where this database keeps no
  such records;
- ``risk_events``: incidents while the campaign ran, and how fast each was reported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pipeline.compliance import records, sends
from pipeline.models import Campaign


def campaign_compliance(session: Session, campaign: Campaign) -> dict[str, Any]:
    return {
        "notices": records.notices_figure(session, campaign),
        "quiet_hours_sends": sends.quiet_hours_sends(session, campaign),
        "sends_after_opt_out": sends.sends_after_opt_out(session, campaign.id),
        "stop_to_suppression": sends.stop_to_suppression(session, campaign.id),
        "over_frequency_caps": sends.over_frequency_caps(session, campaign.id),
        "audit": records.last_verification(session),
        "erasures_in_time": None,
        "complaints_in_time": None,
        "risk_events": records.risk_events(session, campaign),
    }
