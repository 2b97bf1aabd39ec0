"""The agents' query inbox, one case's thread, replies, answers heard by phone, and the
unmatched answers list. Contact data is masked unless the agent asks for one case in full
(a POST, audited, shown once and never remembered by the session)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from actors.channel import send_followup
from pipeline.clock import utcnow
from pipeline.complaints import records as complaints
from pipeline.complaints.stages import NEXT, OUTCOMES, REOPENABLE, STAGES
from pipeline.errors import InputError, InvalidState, NotFound, RecallError
from pipeline.followups import claims, inbox, inbox_items
from pipeline.followups.inbox_items import InboxFilter
from web.auth import require_csrf, require_page_role
from web.dashboard.complaints import inbox_filter
from web.dashboard.deps import db_session
from web.dashboard.pages import render
from web.deps import DbId

log = logging.getLogger(__name__)
router = APIRouter(prefix="/dashboard", include_in_schema=False)
# The inbox is the agents' (and those above): users' own words may hold their contact data.
AGENT = require_page_role("agent")


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    filters: InboxFilter = Depends(inbox_filter),
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    # Each item shows its own deadline (campaigns and complaint stages differ): no global one.
    found = inbox_items.inbox_page(session, utcnow(), filters, page=page)
    return render(
        request, user, "inbox.html", found=found, items=found.items, query=request.url.query,
        kinds=inbox_items.KINDS, stages=(*STAGES, inbox_items.QUESTION_STAGE),
    )  # fmt: skip


@router.get("/inbox/live", response_class=HTMLResponse)
def inbox_live(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    filters: InboxFilter = Depends(inbox_filter),
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    found = inbox_items.inbox_page(session, utcnow(), filters, page=page)
    return render(request, user, "_inbox_rows.html", items=found.items)


def _case_page(
    request: Request,
    user: str,
    session: Session,
    case_id: DbId,
    *,
    full: bool = False,
    status_code: int = 200,
) -> Response:
    try:
        case = inbox.load_case(session, case_id)
        contact = (
            inbox.reveal_contact(session, case_id, f"user:{user}")
            if full
            else inbox.contact_of(case.recipient)
        )
    except NotFound as error:
        raise HTTPException(404, str(error)) from error
    if full:
        session.commit()  # the audit record of this view
    flashes = [request.session.pop("flash")] if "flash" in request.session else []
    return render(
        request,
        user,
        "inbox_case.html",
        status_code=status_code,
        case=case,
        contact=contact,
        thread=inbox.thread(session, case_id, full=full),
        flashes=flashes,
        answers=list(inbox.PHONE_ANSWERS),
        **_team_context(session, case_id),
    )


def _team_context(session: Session, case_id: int) -> dict[str, object]:
    """Who holds the item, and its complaint with the stages it went through."""
    complaint = complaints.complaint_of(session, case_id)
    return {
        "owner": claims.owner_of(session, case_id),
        "complaint": complaint,
        "steps": complaints.steps(session, complaint.id) if complaint else [],
        "next_stage": NEXT.get(complaint.stage) if complaint else None,
        "reopenable": complaint is not None and complaint.stage in REOPENABLE,
        "outcomes": OUTCOMES,
    }


@router.get("/inbox/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    case_id: DbId,
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    return _case_page(request, user, session, case_id)


@router.post(
    "/inbox/{case_id}/reveal", response_class=HTMLResponse, dependencies=[Depends(require_csrf)]
)
def reveal(
    request: Request,
    case_id: DbId,
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    return _case_page(request, user, session, case_id, full=True)


@router.post("/inbox/{case_id}/reply", dependencies=[Depends(require_csrf)])
def reply(
    request: Request,
    case_id: DbId,
    text: str = Form(""),
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    """Send the agent's answer on the user's channel; the case returns to awaiting_response."""
    try:
        # Taking the item first: of two agents answering at once, only its holder sends.
        claims.require_owner(session, case_id, f"user:{user}", utcnow())
        channel = inbox.answer_query(session, case_id, f"user:{user}", text, utcnow())
        if complaints.complaint_of(session, case_id) is None:
            claims.release(session, case_id, f"user:{user}")  # a complaint stays held
        session.commit()
    except (InputError, InvalidState, NotFound) as error:
        session.rollback()
        request.session["flash"] = f"Not sent: {error}"
        return RedirectResponse(f"/dashboard/inbox/{case_id}", 303)
    # Only after the commit: the worker must find the answer and the new state.
    send_followup.send(case_id, channel, "agent_answer", text.strip())
    request.session["flash"] = f"Answer sent by {channel}."
    return RedirectResponse(f"/dashboard/inbox/{case_id}", 303)


@router.post("/inbox/{case_id}/phone-answer", dependencies=[Depends(require_csrf)])
def phone_answer(
    request: Request,
    case_id: DbId,
    answer: str = Form(...),
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    """An answer heard on the phone counts like one typed by the user."""
    try:
        followups = inbox.record_phone_answer(session, case_id, answer, f"user:{user}", utcnow())
        session.commit()
    except RecallError as error:
        session.rollback()
        request.session["flash"] = f"Not recorded: {error}"
        return RedirectResponse(f"/dashboard/inbox/{case_id}", 303)
    for followup in followups:
        send_followup.send(followup.case_id, followup.channel, followup.kind)
    request.session["flash"] = f"Recorded: {answer} (heard by phone)."
    return RedirectResponse(f"/dashboard/inbox/{case_id}", 303)


@router.get("/unmatched", response_class=HTMLResponse)
def unmatched_page(
    request: Request, user: str = Depends(AGENT), session: Session = Depends(db_session)
) -> Response:
    return render(request, user, "unmatched.html", items=inbox.unmatched(session))
