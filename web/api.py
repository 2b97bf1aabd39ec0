"""The dashboard's JSON under ``/api`` (HTTP Basic or the browser session), with response
models so the OpenAPI schema documents every shape. Contact data is always masked here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from actors import queues
from pipeline.clock import utcnow
from pipeline.errors import NotFound
from pipeline.followups import inbox
from pipeline.reporting import views as campaign_view
from pipeline.reporting.metrics import campaign_status
from web import responses
from web.auth import api_user, require_role
from web.dashboard.deps import broker_redis, db_session, namespace
from web.dashboard.queues import stub_queue_stats
from web.deps import DbId

router = APIRouter(
    prefix="/api", tags=["dashboard"], dependencies=[Depends(api_user)], responses=responses.API
)


# What users wrote (questions, unmatched answers) is the inbox's, and so the agents'.
AGENT = require_role("agent")


class FromAttributes(BaseModel):
    """A response model filled from the domain object's attributes (properties included)."""

    model_config = ConfigDict(from_attributes=True)


class CampaignSummary(FromAttributes):
    id: int
    name: str
    reason: str
    state: str
    cases: int
    in_scope: int
    completed: int
    completion: float | None
    deadline: datetime
    launched_at: datetime | None


class Rates(BaseModel):
    completion: float
    reach: float
    response: float


class ChannelCounts(BaseModel):
    model_config = ConfigDict(extra="allow")
    sent: int
    delivered: int
    failed: int


class CampaignStatus(BaseModel):
    """The same shape as ``recall status --json`` (pipeline.reporting.metrics.campaign_status)."""

    model_config = ConfigDict(extra="allow")
    campaign_id: int
    state: str
    cases: int
    states: dict[str, int]
    rates: Rates
    responses: dict[str, int]
    channels: dict[str, ChannelCounts]


class QueueOut(FromAttributes):
    name: str
    ready: int
    delayed: int
    in_progress: int
    dead: int
    processed: int
    failed: int
    window_minutes: int
    per_minute: float
    error_rate: float | None


class ContactOut(FromAttributes):
    name: str
    phone: str
    email: str


class QueryOut(FromAttributes):
    case_id: int
    campaign_id: int
    campaign_name: str
    contact: ContactOut
    opened_at: datetime | None
    due_at: datetime | None
    overdue: bool
    question: str
    channel: str | None


@router.get("/campaigns", response_model=list[CampaignSummary])
def list_campaigns(session: Session = Depends(db_session)) -> list[CampaignSummary]:
    return [CampaignSummary.model_validate(r) for r in campaign_view.campaign_rows(session)]


@router.get("/campaigns/{campaign_id}", response_model=CampaignStatus)
def get_campaign(campaign_id: DbId, session: Session = Depends(db_session)) -> dict[str, Any]:
    try:
        return campaign_status(session, campaign_id)
    except NotFound as error:
        raise HTTPException(404, str(error)) from error


def _queue_stats(request: Request) -> list[queues.QueueStats]:
    client = broker_redis(request)
    if client is not None:
        return queues.queue_stats(client, namespace(request), now=utcnow())
    broker = dramatiq.get_broker()
    return stub_queue_stats(broker) if isinstance(broker, StubBroker) else []


@router.get("/queues", response_model=list[QueueOut])
def list_queues(request: Request) -> list[QueueOut]:
    """Per Dramatiq queue (the in-process broker's too, where this process runs it)."""
    return [QueueOut.model_validate(q) for q in _queue_stats(request)]


@router.get("/workers", response_model=list[queues.WorkerInfo])
def list_workers(request: Request) -> list[queues.WorkerInfo]:
    client = broker_redis(request)
    return [] if client is None else queues.workers(client, namespace(request), now=utcnow())


@router.get("/queries", response_model=list[QueryOut], dependencies=[Depends(AGENT)])
def list_queries(session: Session = Depends(db_session)) -> list[QueryOut]:
    """Open queries, the longest-waiting first; contact data masked."""
    return [QueryOut.model_validate(q) for q in inbox.open_queries(session, utcnow())]


@router.get("/unmatched", response_model=list[inbox.UnmatchedItem], dependencies=[Depends(AGENT)])
def list_unmatched(session: Session = Depends(db_session)) -> list[inbox.UnmatchedItem]:
    return inbox.unmatched(session)
