"""Refusal demands in the agents' inbox: refusals whose reason asks something of us
(compensation, another remedy), to pass to the recall team and close."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.errors import InvalidState, NotFound
from pipeline.followups.demands import close_demand, open_demands
from web.auth import require_csrf, require_page_role
from web.dashboard.deps import db_session
from web.dashboard.pages import render
from web.deps import DbId

router = APIRouter(prefix="/dashboard", include_in_schema=False)
AGENT = require_page_role("agent")


@router.get("/inbox/demands", response_class=HTMLResponse)
def demands_page(
    request: Request, user: str = Depends(AGENT), session: Session = Depends(db_session)
) -> Response:
    flashes = [request.session.pop("flash")] if "flash" in request.session else []
    items = open_demands(session, utcnow())
    return render(request, user, "demands.html", items=items, flashes=flashes)


@router.post("/inbox/demands/{demand_id}/close", dependencies=[Depends(require_csrf)])
def close(
    request: Request,
    demand_id: DbId,
    user: str = Depends(AGENT),
    session: Session = Depends(db_session),
) -> Response:
    """The agent handled the demand: closed, with who and when (audited)."""
    try:
        close_demand(session, demand_id, f"user:{user}", utcnow())
        session.commit()
        request.session["flash"] = f"Demand #{demand_id} closed."
    except (InvalidState, NotFound) as error:
        session.rollback()
        request.session["flash"] = f"Not closed: {error}"
    return RedirectResponse("/dashboard/inbox/demands", 303)
