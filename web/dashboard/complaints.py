"""The inbox's team actions (take, give back, classify as a complaint, move a complaint to
its next stage) and the complaint statistics page. Every action is audited in the core
(pipeline.followups.claims, pipeline.complaints.records) with the agent and the time."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.complaints import records
from pipeline.complaints.stats import complaint_stats
from pipeline.errors import RecallError
from pipeline.followups import claims
from pipeline.followups.inbox_items import InboxFilter
from pipeline.models import Complaint
from web.auth import page_user, require_csrf, require_page_role
from web.dashboard.deps import db_session
from web.dashboard.pages import render
from web.deps import DbId

router = APIRouter(prefix="/dashboard", include_in_schema=False)
AGENT = require_page_role("agent")


def inbox_filter(
    campaign: int | None = Query(None, ge=1, le=2**63 - 1),
    kind: str | None = Query(None, max_length=32),
    stage: str | None = Query(None, max_length=32),
    overdue: bool | None = Query(None),
    language: str | None = Query(None, max_length=16),
    channel: str | None = Query(None, max_length=16),
    owner: str | None = Query(None, max_length=128),
) -> InboxFilter:
    """The inbox's filters from the query string; a bad value is a 400 naming it."""
    try:
        return InboxFilter(
            campaign_id=campaign, kind=kind or None, stage=stage or None, overdue=overdue,
            language=language or None, channel=channel or None, owner=owner or None,
        )  # fmt: skip
    except RecallError as error:
        raise HTTPException(400, str(error)) from error


def _done(request: Request, case_id: int, message: str) -> Response:
    request.session["flash"] = message
    return RedirectResponse(f"/dashboard/inbox/{case_id}", 303)


def _act(request: Request, session: Session, case_id: int, action: object, ok: str) -> Response:
    try:
        action()  # type: ignore[operator]
        session.commit()
    except RecallError as error:
        session.rollback()
        return _done(request, case_id, f"Not done: {error}")
    return _done(request, case_id, ok)


@router.post("/inbox/{case_id}/take", dependencies=[Depends(require_csrf)])
def take(
    request: Request,
    case_id: DbId,
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    """Take the item; someone else's item stays theirs (the flash says whose)."""
    try:
        holder = claims.take(session, case_id, f"user:{user}", utcnow())
        session.commit()
    except RecallError as error:
        session.rollback()
        raise HTTPException(404, str(error)) from error
    mine = holder == f"user:{user}"
    return _done(request, case_id, "You have taken this item." if mine else f"Taken by {holder}.")


@router.post("/inbox/{case_id}/release", dependencies=[Depends(require_csrf)])
def release(
    request: Request,
    case_id: DbId,
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    released = claims.release(session, case_id, f"user:{user}")
    session.commit()
    return _done(request, case_id, "Given back." if released else "You did not hold this item.")


@router.post("/inbox/{case_id}/complaint", dependencies=[Depends(require_csrf)])
def classify(
    request: Request,
    case_id: DbId,
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    """The agent reads the question as a complaint: it is routed now, on the clock."""
    agent = f"user:{user}"
    return _act(
        request, session, case_id,
        lambda: records.classify_by_agent(session, case_id, agent, utcnow()),
        "Classified as a complaint and routed.",
    )  # fmt: skip


@router.post("/complaints/{complaint_id}/stage", dependencies=[Depends(require_csrf)])
def move(
    request: Request,
    complaint_id: DbId,
    stage: str = Form(..., max_length=32),
    outcome: str | None = Form(None, max_length=32),
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    """Move a complaint to its next stage (or reopen it); only the item's holder may."""
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        raise HTTPException(404, f"no complaint {complaint_id}")
    agent, case_id = f"user:{user}", complaint.case_id

    def act() -> None:
        claims.require_owner(session, case_id, agent, utcnow())
        records.move(session, complaint_id, stage, agent, utcnow(), outcome=outcome or None)

    return _act(request, session, case_id, act, f"Complaint moved to {stage}.")


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(
    request: Request,
    since: date | None = Query(None),
    user: str = Depends(page_user),
    session: Session = Depends(db_session),
) -> Response:
    stats = complaint_stats(session, utcnow(), since=since)
    return render(request, user, "complaints.html", stats=stats, since=since)
