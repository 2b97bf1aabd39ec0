"""The dashboard's JSON under ``/api`` (HTTP Basic or the browser session), with response
models so the OpenAPI schema documents every shape. Contact data is always masked here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from pipeline import campaign_view, inbox, queues
from pipeline.clock import utcnow
from pipeline.errors import NotFound
from pipeline.metrics import campaign_status
from web.auth import api_user
from web.dashboard.deps import broker_redis, db_session, namespace

router = APIRouter(prefix="/api", tags=["dashboard"], dependencies=[Depends(api_user)])


class CampaignSummary(BaseModel):
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
    """The same shape as ``recall status --json`` (pipeline.metrics.campaign_status)."""

    model_config = ConfigDict(extra="allow")
    campaign_id: int
    state: str
    cases: int
    states: dict[str, int]
    rates: Rates
    responses: dict[str, int]
    channels: dict[str, ChannelCounts]


class QueueOut(BaseModel):
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


class WorkerOut(BaseModel):
    broker_id: str
    last_heartbeat: datetime
    alive: bool
    in_progress: int
    hostname: str | None
    pid: int | None
    queues: list[str]


class ContactOut(BaseModel):
    name: str
    phone: str
    email: str


class QueryOut(BaseModel):
    case_id: int
    campaign_id: int
    campaign_name: str
    contact: ContactOut
    opened_at: datetime | None
    due_at: datetime | None
    overdue: bool
    question: str
    channel: str | None


class UnmatchedOut(BaseModel):
    id: int
    received_at: datetime
    channel: str
    kind: str
    sender: str
    text: str


@router.get("/campaigns", response_model=list[CampaignSummary])
def list_campaigns(session: Session = Depends(db_session)) -> list[CampaignSummary]:
    return [
        CampaignSummary(
            id=r.id,
            name=r.name,
            reason=r.reason,
            state=r.state,
            cases=r.cases,
            in_scope=r.in_scope,
            completed=r.completed,
            completion=r.completion,
            deadline=r.deadline,
            launched_at=r.launched_at,
        )
        for r in campaign_view.campaign_rows(session)
    ]


@router.get("/campaigns/{campaign_id}", response_model=CampaignStatus)
def get_campaign(campaign_id: int, session: Session = Depends(db_session)) -> dict[str, Any]:
    try:
        return campaign_status(session, campaign_id)
    except NotFound as error:
        raise HTTPException(404, str(error)) from error


def _queue_stats(request: Request) -> list[queues.QueueStats]:
    client = broker_redis(request)
    if client is None:
        return []
    return queues.queue_stats(client, namespace(request), now=utcnow())


@router.get("/queues", response_model=list[QueueOut])
def list_queues(request: Request) -> list[QueueOut]:
    """Per Dramatiq queue; empty with the in-process broker."""
    return [
        QueueOut(
            name=q.name,
            ready=q.ready,
            delayed=q.delayed,
            in_progress=q.in_progress,
            dead=q.dead,
            processed=q.processed,
            failed=q.failed,
            window_minutes=q.window_minutes,
            per_minute=q.per_minute,
            error_rate=q.error_rate,
        )
        for q in _queue_stats(request)
    ]


@router.get("/workers", response_model=list[WorkerOut])
def list_workers(request: Request) -> list[WorkerOut]:
    client = broker_redis(request)
    if client is None:
        return []
    return [WorkerOut(**vars(w)) for w in queues.workers(client, namespace(request), now=utcnow())]


@router.get("/queries", response_model=list[QueryOut])
def list_queries(session: Session = Depends(db_session)) -> list[QueryOut]:
    """Open queries, the longest-waiting first; contact data masked."""
    return [
        QueryOut(
            case_id=q.case_id,
            campaign_id=q.campaign_id,
            campaign_name=q.campaign_name,
            contact=ContactOut(name=q.contact.name, phone=q.contact.phone, email=q.contact.email),
            opened_at=q.opened_at,
            due_at=q.due_at,
            overdue=q.overdue,
            question=q.question,
            channel=q.channel,
        )
        for q in inbox.open_queries(session, utcnow())
    ]


@router.get("/unmatched", response_model=list[UnmatchedOut])
def list_unmatched(session: Session = Depends(db_session)) -> list[UnmatchedOut]:
    return [UnmatchedOut(**vars(u)) for u in inbox.unmatched(session)]
