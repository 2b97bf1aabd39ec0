"""A campaign's cost and compliance on its page, and its final report to download.

The figures are ``recall status``'s (``pipeline.reporting.metrics``) and the report is
``recall report``'s (``pipeline.reporting.report``), so page, CLI and file agree. Compliance
reads the campaign's sends, so its panel refreshes every half minute, not with the live
figures every few seconds. The report masks contact data, so whoever may log in may read it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pipeline.errors import NotFound
from pipeline.reporting import report
from pipeline.reporting.metrics import campaign_status
from web.auth import page_user
from web.dashboard.deps import db_session
from web.dashboard.pages import render
from web.deps import DbId

router = APIRouter(prefix="/dashboard/campaigns", include_in_schema=False)

MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


@router.get("/{campaign_id}/measures", response_class=HTMLResponse)
def campaign_measures(
    request: Request,
    campaign_id: DbId,
    user: str = Depends(page_user),
    session: Session = Depends(db_session),
) -> Response:
    try:
        status = campaign_status(session, campaign_id)
    except NotFound as error:
        raise HTTPException(404, str(error)) from None
    return render(
        request,
        user,
        "_campaign_measures.html",
        campaign_id=campaign_id,
        cost=status["cost"],
        compliance=status["compliance"],
    )


@router.get("/{campaign_id}/report.{fmt}")
def campaign_report(
    campaign_id: DbId,
    fmt: str,
    user: str = Depends(page_user),
    session: Session = Depends(db_session),
) -> Response:
    """The final report (html opens in the browser; csv and json download)."""
    if fmt not in report.FORMATS:
        raise HTTPException(404, f"no report format {fmt!r}; use html, csv or json")
    try:
        text = report.render_report(session, campaign_id, fmt)
    except NotFound as error:
        raise HTTPException(404, str(error)) from None
    name = f"campaign-{campaign_id}-report.{fmt}"
    disposition = "inline" if fmt == "html" else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}"'}
    return Response(text, media_type=MEDIA_TYPES[fmt], headers=headers)
