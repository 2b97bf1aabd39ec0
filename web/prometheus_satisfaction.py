"""``/metrics`` gauges for issue 15a, per running or paused campaign: the satisfaction
score (``recall_satisfaction_mean``, ``recall_satisfaction_answers``) and the remedy funnel
(``recall_remedies{campaign,stage}``). Read from the same functions as ``recall status``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.models import Campaign
from pipeline.remedies.funnel import remedy_funnel
from pipeline.reporting.metrics import states_by_campaign
from pipeline.satisfaction.summary import satisfaction_summary

REMEDY_STAGES = ("agreed", "remedied", "remedied_without_agreement", "awaiting")


def policy_metrics(session: Session) -> Iterator[Metric]:
    mean = GaugeMetricFamily(
        "recall_satisfaction_mean", "Mean 1-5 satisfaction score.", labels=["campaign"]
    )
    answers = GaugeMetricFamily(
        "recall_satisfaction_answers", "Satisfaction scores received.", labels=["campaign"]
    )
    remedies = GaugeMetricFamily(
        "recall_remedies", "The remedy funnel by stage.", labels=["campaign", "stage"]
    )
    live = session.scalars(select(Campaign.id).where(Campaign.state.in_(("running", "paused"))))
    states = states_by_campaign(session)
    for campaign in live:
        figures = satisfaction_summary(session, campaign)
        if figures["answers"]:
            mean.add_metric([str(campaign)], figures["mean"])
        answers.add_metric([str(campaign)], figures["answers"])
        funnel = remedy_funnel(session, campaign, states.get(campaign, {}))
        for stage in REMEDY_STAGES:
            remedies.add_metric([str(campaign), stage], funnel[stage])
    yield mean
    yield answers
    yield remedies
