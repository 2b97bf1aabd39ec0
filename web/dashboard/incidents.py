"""Risk-event incidents (pipeline.incidents): a dashboard page and its JSON under ``/api``.
Their detail is masked when it is written, so every logged-in role may see them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pipeline.reporting import incidents
from web import responses
from web.auth import api_user, page_user
from web.dashboard.deps import db_session
from web.dashboard.pages import render

router = APIRouter(prefix="/dashboard", include_in_schema=False)
api_router = APIRouter(
    prefix="/api", tags=["dashboard"], dependencies=[Depends(api_user)], responses=responses.API
)


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(
    request: Request, user: str = Depends(page_user), session: Session = Depends(db_session)
) -> Response:
    return render(request, user, "incidents.html", items=incidents.recent(session))


@api_router.get("/incidents", response_model=list[incidents.IncidentRow])
def list_incidents(
    limit: int = Query(100, ge=1, le=1000), session: Session = Depends(db_session)
) -> list[incidents.IncidentRow]:
    """Open incidents first, then the most recently started (the core's rows as they are)."""
    return incidents.recent(session, limit)
