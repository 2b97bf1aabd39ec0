"""The landing page: campaigns at a glance, queue totals, workers, open queries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.followups import inbox
from pipeline.reporting import views as campaign_view
from web.auth import page_user
from web.dashboard.deps import db_session
from web.dashboard.pages import render
from web.dashboard.queues import queue_view

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _context(request: Request, session: Session) -> dict[str, Any]:
    view = queue_view(request)
    stats = view.queues if view else []
    return {
        "campaigns": [c for c in campaign_view.campaign_rows(session) if c.state == "running"],
        "open_queries": inbox.open_queries(session, utcnow()),
        "queues_configured": view is not None,
        "ready": sum(q.ready for q in stats),
        "in_progress": sum(q.in_progress for q in stats),
        "dead": sum(q.dead for q in stats),
        # Processes that only enqueue (web, scheduler) heartbeat too; workers register.
        "workers_alive": sum(1 for w in (view.workers if view else []) if w.alive and w.hostname),
    }


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request, user: str = Depends(page_user), session: Session = Depends(db_session)
) -> Response:
    return render(request, user, "overview.html", **_context(request, session))


@router.get("/live", response_class=HTMLResponse)
def overview_live(
    request: Request, user: str = Depends(page_user), session: Session = Depends(db_session)
) -> Response:
    return render(request, user, "_overview_live.html", **_context(request, session))
