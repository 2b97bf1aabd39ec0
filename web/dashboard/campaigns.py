"""Campaign pages: the list with progress, one campaign's funnel and results, and the
pause / resume / cancel buttons (pipeline.cases.control does the work and the audit)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pipeline.cases import control
from pipeline.errors import RecallError
from pipeline.reporting import views as campaign_view
from web.auth import page_user, require_csrf, require_page_role
from web.dashboard.deps import db_session
from web.dashboard.pages import render
from web.deps import DbId

router = APIRouter(prefix="/dashboard/campaigns", include_in_schema=False)
OPERATOR = require_page_role("operator")

CONTROLS: dict[str, Callable[..., object]] = {
    "pause": control.pause,
    "resume": control.resume,
    "cancel": control.cancel,
}


@router.get("", response_class=HTMLResponse)
def campaigns_page(
    request: Request, user: str = Depends(page_user), session: Session = Depends(db_session)
) -> Response:
    return render(request, user, "campaigns.html", rows=campaign_view.campaign_rows(session))


@router.get("/live", response_class=HTMLResponse)
def campaigns_live(
    request: Request, user: str = Depends(page_user), session: Session = Depends(db_session)
) -> Response:
    return render(request, user, "_campaign_rows.html", rows=campaign_view.campaign_rows(session))


def _detail(session: Session, campaign_id: int) -> campaign_view.CampaignDetail:
    detail = campaign_view.campaign_detail(session, campaign_id)
    if detail is None:
        raise HTTPException(404, f"no campaign {campaign_id}")
    return detail


def _chart(detail: campaign_view.CampaignDetail) -> dict[str, object]:
    return {
        "x": [t for t, _ in detail.completion_series],
        "percent": True,
        "series": [
            {
                "label": "completion",
                "color": "#2e7d32",
                "percent": True,
                "data": [v for _, v in detail.completion_series],
            }
        ],
    }


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request,
    campaign_id: DbId,
    user: str = Depends(page_user),
    session: Session = Depends(db_session),
) -> Response:
    detail = _detail(session, campaign_id)
    flashes = [request.session.pop("flash")] if "flash" in request.session else []
    return render(request, user, "campaign.html", d=detail, chart=_chart(detail), flashes=flashes)


@router.get("/{campaign_id}/live", response_class=HTMLResponse)
def campaign_live(
    request: Request,
    campaign_id: DbId,
    user: str = Depends(page_user),
    session: Session = Depends(db_session),
) -> Response:
    detail = _detail(session, campaign_id)
    return render(request, user, "_campaign_live.html", d=detail, chart=_chart(detail))


@router.post("/{campaign_id}/{action}", dependencies=[Depends(require_csrf)])
def campaign_control(
    request: Request,
    campaign_id: DbId,
    action: str,
    user: str = Depends(OPERATOR),
    session: Session = Depends(db_session),
) -> Response:
    command = CONTROLS.get(action)
    if command is None:
        raise HTTPException(404, f"unknown action {action!r}")
    try:
        command(session, campaign_id, actor=f"user:{user}")
        session.commit()
        message = {
            "pause": "Campaign paused.",
            "resume": "Campaign resumed.",
            "cancel": "Campaign cancelled.",
        }[action]
    except RecallError as error:
        session.rollback()
        message = f"Could not {action}: {error}"
    request.session["flash"] = message
    return RedirectResponse(f"/dashboard/campaigns/{campaign_id}", 303)
