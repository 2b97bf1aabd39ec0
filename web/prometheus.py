"""``GET /metrics`` for Prometheus.

Three sources, one exposition:
- recall's own figures, read from the database at scrape time (so every web process
  reports the same truth): ``recall_cases{campaign,state}``, ``recall_answers_total{kind,
  channel}``, ``recall_provider_errors_total{channel,code}``, the money spent
  (``recall_campaign_cost{campaign,channel,currency}``, per completed case, budget used),
  plus queue depths from Redis;
- this process's webhook latency histogram, ``recall_webhook_latency_seconds{route}``,
  fed by ``WebhookLatencyMiddleware`` (or ``observe_webhook`` from a handler);
- Dramatiq's own series (``dramatiq_messages_total`` …) where workers run its Prometheus
  middleware on this machine: that middleware writes multiprocess files under its
  ``dramatiq_prom_db`` directory and serves them on its own port per worker host; reading
  the same directory here puts them on the app's ``/metrics`` too. Workers on other hosts
  are scraped on their own port (9191 by default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from dramatiq.middleware.prometheus import DB_PATH as DRAMATIQ_PROM_DIR
from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from actors import queues
from pipeline.clock import utcnow
from pipeline.cost import budget
from pipeline.db import session_scope
from pipeline.models import Attempt, Campaign
from pipeline.models import Response as AnswerRow
from pipeline.reporting import incidents, tallies
from pipeline.reporting.metrics import states_by_campaign
from web.asgi import StatusCapture
from web.dashboard.deps import broker_redis, namespace
from web.deps import engine_of
from web.prometheus_satisfaction import policy_metrics

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Process-local, like any Prometheus histogram; each web process is scraped on its own.
webhook_registry = CollectorRegistry(auto_describe=True)
WEBHOOK_LATENCY = Histogram(
    "recall_webhook_latency_seconds",
    "Time to answer a provider webhook (verify, store, enqueue).",
    ["route", "status"],
    buckets=LATENCY_BUCKETS,
    registry=webhook_registry,
)


# Every login try by outcome (ok, failed, throttled) and way (form, basic): alert on a
# rising failed or throttled rate (a password-guessing run).
LOGIN_ATTEMPTS = Counter(
    "recall_login_attempts",
    "Login tries by outcome and way.",
    ["outcome", "via"],
    registry=webhook_registry,
)


def observe_webhook(route: str, status: int, seconds: float) -> None:
    WEBHOOK_LATENCY.labels(route=route, status=str(status)).observe(seconds)


class WebhookLatencyMiddleware:
    """Times every request under ``/webhooks/`` (and ``/r/``) into the histogram."""

    PREFIXES = ("/webhooks/", "/r/")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.PREFIXES):
            await self.app(scope, receive, send)
            return
        started, capture = time.perf_counter(), StatusCapture(send)
        try:
            await self.app(scope, receive, capture)
        finally:
            observe_webhook(route_label(scope), capture.status, time.perf_counter() - started)


def route_label(scope: Scope) -> str:
    """The matched route's template, never the raw path: an anonymous client choosing paths
    must not choose label values (each one a new series, kept for the process's life).
    /r/{token} is one label for all tokens, never the token itself."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return "unmatched"
    return "/r" if template.startswith("/r/") else template


class RecallCollector(Collector):
    """Case, answer and provider-error figures from the database; queues from Redis."""

    def __init__(self, engine: Engine, client: redis.Redis | None, namespace: str) -> None:
        self.engine, self.client, self.namespace = engine, client, namespace

    def collect(self) -> Iterator[Metric]:
        try:
            with session_scope(self.engine) as session:
                yield from _database_metrics(session)
        except Exception:  # a scrape must answer even when the database does not
            log.warning("metrics.database_unavailable", exc_info=True)
        if self.client is not None:
            yield from _queue_metrics(self.client, self.namespace)


def _database_metrics(session: Session) -> Iterator[Metric]:
    cases = GaugeMetricFamily(
        "recall_cases", "Cases by campaign and state.", labels=["campaign", "state"]
    )
    live = session.scalars(select(Campaign.id).where(Campaign.state.in_(("running", "paused"))))
    by_campaign = states_by_campaign(session)  # the tallies on PostgreSQL: no case scan
    for campaign in live:
        for state, count in by_campaign.get(campaign, {}).items():
            if count:
                cases.add_metric([str(campaign), state], count)
    yield cases
    answers = CounterMetricFamily(
        "recall_answers", "Classified answers received.", labels=["kind", "channel"]
    )
    for (kind, channel), count in sorted(_answers(session).items()):
        answers.add_metric([kind, channel], count)
    yield answers
    errors = CounterMetricFamily(
        "recall_provider_errors", "Sends the provider failed.", labels=["channel", "code"]
    )
    for (channel, code), count in sorted(_provider_errors(session).items()):
        errors.add_metric([channel, code], count)
    yield errors
    yield from _incident_metrics(session)
    yield from _cost_metrics(session)
    yield from policy_metrics(session)


def _cost_metrics(session: Session) -> Iterator[Metric]:
    """Money spent by each running or paused campaign (pipeline.cost), per channel."""
    spent = GaugeMetricFamily(
        "recall_campaign_cost",
        "Money spent by a running or paused campaign, per channel.",
        labels=["campaign", "channel", "currency"],
    )
    per_completed = GaugeMetricFamily(
        "recall_campaign_cost_per_completed_case",
        "Money spent per completed case.",
        labels=["campaign", "currency"],
    )
    budget_used = GaugeMetricFamily(
        "recall_campaign_budget_used", "Share of its budget a campaign spent.", labels=["campaign"]
    )
    for campaign, cost in budget.spending_campaigns(session).items():
        for channel, amount in cost["per_channel"].items():
            spent.add_metric([str(campaign), channel, cost["currency"]], amount)
        if cost["per_completed_case"] is not None:
            per_completed.add_metric([str(campaign), cost["currency"]], cost["per_completed_case"])
        if cost["budget_used"] is not None:
            budget_used.add_metric([str(campaign)], cost["budget_used"])
    yield spent
    yield per_completed
    yield budget_used


def _incident_metrics(session: Session) -> Iterator[Metric]:
    total, open_now = incidents.counts_by_kind(session)
    raised = CounterMetricFamily(
        "recall_incidents", "Risk-event incidents raised.", labels=["kind"]
    )
    opened = GaugeMetricFamily("recall_incidents_open", "Incidents open now.", labels=["kind"])
    for kind in sorted(total):
        raised.add_metric([kind], total[kind])
        opened.add_metric([kind], open_now[kind])
    yield raised
    yield opened


def _answers(session: Session) -> dict[tuple[str, str], int]:
    """Answers by (kind, channel): the campaigns' tallies on PostgreSQL plus the answers that
    matched no case (an index lookup), so a scrape never scans every response."""
    found: dict[tuple[str, str], int] = {}
    if tallies.kept_by(session.connection()):
        for _, name, value in tallies.read_all(session, prefix="response:"):
            kind, _, channel = name.removeprefix("response:").partition(":")
            found[kind, channel] = found.get((kind, channel), 0) + round(value)
        rows = session.execute(
            select(AnswerRow.kind, AnswerRow.channel, func.count())
            .where(AnswerRow.case_id.is_(None))
            .group_by(AnswerRow.kind, AnswerRow.channel)
        )
    else:
        rows = session.execute(
            select(AnswerRow.kind, AnswerRow.channel, func.count()).group_by(
                AnswerRow.kind, AnswerRow.channel
            )
        )
    for kind, channel, count in rows:
        found[kind, channel] = found.get((kind, channel), 0) + count
    return found


def _provider_errors(session: Session) -> dict[tuple[str, str], int]:
    """Failed sends by (channel, error code): the tallies on PostgreSQL, a scan on SQLite."""
    found: dict[tuple[str, str], int] = {}
    if tallies.kept_by(session.connection()):
        for _, name, value in tallies.read_all(session, prefix="error:"):
            channel, _, code = name.removeprefix("error:").partition(":")
            found[channel, code] = found.get((channel, code), 0) + round(value)
        return found
    for channel, error_code, count in session.execute(
        select(Attempt.channel, Attempt.error_code, func.count())
        .where(Attempt.status.in_(tallies.PROVIDER_FAILURES))
        .group_by(Attempt.channel, Attempt.error_code)
    ):
        key = (channel, error_code or "none")
        found[key] = found.get(key, 0) + count
    return found


def _queue_metrics(client: redis.Redis, namespace: str) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "recall_queue_messages", "Dramatiq messages by queue and stage.", labels=["queue", "stage"]
    )
    try:
        stats = queues.queue_stats(client, namespace, now=utcnow(), window_minutes=1)
    except Exception:
        log.warning("metrics.redis_unavailable", exc_info=True)
        return
    for q in stats:
        for stage in ("ready", "delayed", "in_progress", "dead"):
            depth.add_metric([q.name, stage], getattr(q, stage))
    yield depth


def _dramatiq_registry() -> CollectorRegistry | None:
    """Dramatiq's multiprocess files, when its Prometheus middleware runs on this host."""
    path = Path(DRAMATIQ_PROM_DIR)
    if not path.is_dir() or not any(path.glob("*.db")):
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    return registry


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    recall_registry = CollectorRegistry(auto_describe=False)
    recall_registry.register(
        RecallCollector(engine_of(request), broker_redis(request), namespace(request))
    )
    parts = [generate_latest(recall_registry), generate_latest(webhook_registry)]
    dramatiq_registry = _dramatiq_registry()
    if dramatiq_registry is not None:
        parts.append(generate_latest(dramatiq_registry))
    return Response(b"".join(parts), media_type=CONTENT_TYPE_LATEST)
