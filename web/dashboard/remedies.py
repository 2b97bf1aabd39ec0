"""Remedy confirmations from other systems and from people: ``POST
/api/campaigns/{id}/remedies`` (a JSON list of ``{external_id, completed_at, note?}``) and
the case page's "remedy done" button. Both call pipeline.remedies.confirm, which applies
the rule and writes the audit; the operator role guards both (web.auth)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.errors import InputError, NotFound
from pipeline.models import Case
from pipeline.remedies.confirm import (
    Confirmation,
    campaign_of,
    confirm_all,
    confirm_case,
    item_problems,
)
from pipeline.remedies.csv_input import check_item
from web import responses
from web.auth import require_csrf, require_page_role, require_role
from web.dashboard.deps import db_session
from web.deps import DbId

router = APIRouter(prefix="/dashboard/remedies", include_in_schema=False)
api_router = APIRouter(prefix="/api", tags=["remedies"], responses=responses.API)

# A service centre's day fits; more goes in several posts (or `recall remedies import`).
# The body itself is bounded by web.limits (the /api/ limit) before it is read.
MAX_ITEMS = 5000
FIELDS = frozenset({"external_id", "completed_at", "note"})
ITEMS_EXAMPLE = [{"external_id": "u-1001", "completed_at": "2026-03-02T14:30:00Z", "note": ""}]


ItemErrors = list[dict[str, Any]]


def _item_errors(index: int, raw: Any, now: datetime) -> tuple[Confirmation | None, ItemErrors]:
    def error(field: str | None, reason: str) -> dict[str, Any]:
        return {"index": index, "field": field, "reason": reason}

    if not isinstance(raw, dict):
        return None, [error(None, "expected an object {external_id, completed_at, note?}")]
    unknown = sorted(str(key) for key in raw if key not in FIELDS)
    if unknown:
        return None, [error(None, f"unknown field(s) {', '.join(unknown)}")]
    values = {name: raw.get(name, "") for name in FIELDS}
    wrong = [name for name, value in values.items() if not isinstance(value, str)]
    if wrong:
        return None, [error(name, "must be a string") for name in sorted(wrong)]
    item, problems = check_item(
        values["external_id"].strip(), values["completed_at"], values["note"], now
    )
    if item is None:
        return None, [error(field, reason) for field, reason in problems]
    return Confirmation(item.external_id, item.completed_at, item.note, index), []


def _refused(detail: str, errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


@api_router.post("/campaigns/{campaign_id}/remedies")
def post_remedies(
    campaign_id: DbId,
    payload: Any = Body(..., examples=[ITEMS_EXAMPLE]),
    user: str = Depends(require_role("operator")),
    session: Session = Depends(db_session),
) -> Response:
    """Confirm remedies done, all or nothing: any bad item refuses the whole list (422,
    each problem with its item's index and field) and changes nothing. An agreed case
    completes; a case that never agreed completes too and is counted apart; a case
    confirmed before is left as it is (so a retried post is harmless)."""
    try:
        campaign_of(session, campaign_id)
    except NotFound as error:
        raise HTTPException(404, str(error)) from error
    if not isinstance(payload, list):
        return _refused("expected a JSON list of {external_id, completed_at, note?}", [])
    if len(payload) > MAX_ITEMS:
        raise HTTPException(413, f"at most {MAX_ITEMS} items per request")
    now = utcnow()
    items, errors = _checked(payload, now)
    cases, unknown = item_problems(session, campaign_id, items, path=None)
    errors += [{"index": e.line, "field": e.field, "reason": e.reason} for e in unknown]
    if errors:
        return _refused(f"{len(errors)} problem(s); nothing was applied", errors)
    report = confirm_all(
        session, campaign_id, items, cases, source="api", actor=f"user:{user}", now=now
    )
    session.commit()
    return JSONResponse({"applied": len(items), **report.outcomes})


def _checked(payload: list[Any], now: datetime) -> tuple[list[Confirmation], ItemErrors]:
    items: list[Confirmation] = []
    errors: ItemErrors = []
    seen: set[str] = set()
    for index, raw in enumerate(payload):
        item, problems = _item_errors(index, raw, now)
        errors += problems
        if item is None:
            continue
        if item.external_id in seen:
            errors.append(
                {"index": index, "field": "external_id", "reason": "repeated in this list"}
            )
            continue
        seen.add(item.external_id)
        items.append(item)
    return items, errors


@router.post("/case/{case_id}", dependencies=[Depends(require_csrf)])
def remedy_done(
    request: Request,
    case_id: DbId,
    note: str = Form("", max_length=1000),
    user: str = Depends(require_page_role("operator")),
    session: Session = Depends(db_session),
) -> Response:
    """The case page's "remedy done": confirmed now, by the signed-in user."""
    case = session.get(Case, case_id)
    if case is None:
        raise HTTPException(404, f"case {case_id} does not exist")
    item = Confirmation(case.recipient.external_id, utcnow(), note.strip())
    try:
        outcome = confirm_case(
            session, case_id, item, source="dashboard", actor=f"user:{user}", now=utcnow()
        )
        session.commit()
        message = MESSAGES[outcome.value]
    except InputError as error:
        session.rollback()
        # No ";" in a flash: the session cookie carries it as is (web.sessions).
        message = f"Could not confirm the remedy: {error.reason}".replace(";", ",")
    request.session["flash"] = message
    return RedirectResponse(f"/dashboard/inbox/{case_id}", 303)


# Shown as the flash after the action; kept free of ";" (see remedy_done).
MESSAGES = {
    "completed": "Remedy confirmed: the case is completed.",
    "completed_without_agreement": (
        "Remedy confirmed: the case is completed (it never agreed, so it is counted apart)."
    ),
    "recorded": "Remedy recorded (the case was already completed).",
    "already_confirmed": "The remedy was already confirmed; nothing changed.",
}
