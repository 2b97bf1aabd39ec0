"""Response links from email: ``GET /r/{token}`` shows the notice and the three answers,
``POST /r/{token}`` records the chosen one and redirects back (POST-redirect-GET).

The signed token (``pipeline.privacy.tokens``) names the case and the answer the recipient clicked
in the email; that answer is highlighted, but the page lets them choose any of the three.
An ``opt_out`` token is the email's one-click unsubscribe (RFC 8058): GET asks to confirm
(mail scanners follow links; a GET must not unsubscribe anyone), POST unsubscribes.

A recorded answer is an ``inbound_event`` like any webhook — (link, link_answer), payload
``{"case_id", "answer", "text", "channel"}`` — keyed by token and answer so a double click
stores and enqueues nothing new.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from pipeline.cases import caps
from pipeline.clock import utcnow
from pipeline.inbound.event_store import NewEvent
from pipeline.models import Case
from pipeline.notices.templates import builtin_locale, case_context
from pipeline.privacy.tokens import ExpiredToken, InvalidToken, read_response_token
from pipeline.settings import Settings
from web import responses
from web.deps import engine_of, settings_of
from web.link_text import TEXT
from web.webhooks import record

log = logging.getLogger(__name__)

router = APIRouter(tags=["links"], responses=responses.LINK)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

ANSWERS = ("agree", "refuse", "query")
OPT_OUT = "opt_out"
MAX_TEXT = 2000
MAX_FORM_BYTES = 16_384
# The form has two fields (answer, text); a few more is a client's noise, far more an attack.
MAX_FORM_FIELDS = 20


def _page(
    request: Request, locale: str, status: int = 200, message: str = "", **extra: Any
) -> Response:
    t = TEXT[locale]
    context: dict[str, Any] = {"locale": locale, "t": t, "title": t["title"], "message": message}
    context |= {"show_form": False, "notice": None, "chosen": None, "max_text": MAX_TEXT}
    context |= {"unsubscribe": False} | extra
    return templates.TemplateResponse(request, "response.html", context, status_code=status)


def _read_token(request: Request, token: str) -> tuple[int, str] | str:
    """(case id, answer) from the token, or the reason it cannot be used."""
    try:
        case_id, answer = read_response_token(
            token, utcnow(), secret_key=settings_of(request).secret_key
        )
    except ExpiredToken:
        return "expired"
    except InvalidToken:
        return "invalid"
    return case_id, answer


def _token_refused(request: Request, reason: str) -> Response:
    log.info("link.refused reason=%s", reason)
    return _page(request, "en", 410 if reason == "expired" else 400, TEXT["en"][reason])


def _notice(engine: Engine, case_id: int) -> tuple[str, dict[str, Any]] | None:
    """(locale, what the notice says) for the case, or None when the case is gone."""
    with Session(engine) as session:
        case = session.get(Case, case_id)
        if case is None or case.recipient.erased_at is not None:
            return None
        return builtin_locale(case.recipient.locale), case_context(case)


def _locale_of(engine: Engine, case_id: int) -> str:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        return builtin_locale(case.recipient.locale if case is not None else None)


@router.get("/r/{token}")
async def response_page(request: Request, token: str, done: str | None = None) -> Response:
    """The notice and the three answers (or the unsubscribe button), or a thank-you."""
    read = _read_token(request, token)
    if isinstance(read, str):
        return _token_refused(request, read)
    case_id, chosen = read
    if done in (*ANSWERS, OPT_OUT):
        locale = await run_in_threadpool(_locale_of, engine_of(request), case_id)
        return _page(request, locale, message=TEXT[locale][f"done_{done}"])
    view = await run_in_threadpool(_notice, engine_of(request), case_id)
    if view is None:
        return _page(request, "en", 410, TEXT["en"]["gone"])
    locale, notice = view
    if chosen == OPT_OUT:
        return _page(request, locale, notice=notice, unsubscribe=True)
    return _page(request, locale, show_form=True, notice=notice, chosen=chosen)


def link_event_id(token: str, answer: str, text: str, case_id: int) -> str:
    """Same token, answer (and question) → same id, so a double submit is a no-op. A
    question's id starts with its case (``caps.link_question_prefix``), so a day's questions
    of one case are counted with an index range."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:40]
    if answer == "query":
        question = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        return f"{caps.link_question_prefix(case_id)}{digest}:{question}"
    return f"link:{digest}:{answer}"


def _questions_left(engine: Engine, case_id: int, settings: Settings) -> bool:
    with Session(engine) as session:
        asked = caps.link_questions_in_window(session, case_id, utcnow())
    return asked < caps.daily_cap("email", settings)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:  # too many fields: not our form
        return {}
    return dict(pairs)


@router.post("/r/{token}", openapi_extra=responses.LINK_FORM)
async def record_answer(request: Request, token: str) -> Response:
    """Record the chosen answer, then redirect to the thank-you page. For an unsubscribe
    token any POST unsubscribes (RFC 8058 one-click: ``List-Unsubscribe=One-Click``)."""
    read = _read_token(request, token)
    if isinstance(read, str):
        return _token_refused(request, read)
    case_id, token_answer = read
    form = await _form(request)
    answer = OPT_OUT if token_answer == OPT_OUT else form.get("answer", "")
    text = form.get("text", "").strip() if answer == "query" else ""
    # Only an unsubscribe token unsubscribes; an answer link's form offers the three answers.
    valid = token_answer == OPT_OUT or (answer in ANSWERS and (answer != "query" or bool(text)))
    if not valid or len(text) > MAX_TEXT:
        locale = await run_in_threadpool(_locale_of, engine_of(request), case_id)
        return _page(request, locale, 400, TEXT[locale]["empty_question"])
    if answer == "query" and not await run_in_threadpool(
        _questions_left, engine_of(request), case_id, settings_of(request)
    ):
        locale = await run_in_threadpool(_locale_of, engine_of(request), case_id)
        log.info("link.questions_capped case_id=%s", case_id)
        return _page(request, locale, 429, TEXT[locale]["too_many_questions"])
    payload = {"case_id": case_id, "answer": answer, "text": text, "channel": "email"}
    event_id = link_event_id(token, answer, text, case_id)
    await record(request, [NewEvent("link", "link_answer", event_id, payload)])
    return RedirectResponse(f"{request.url.path}?done={answer}", status_code=303)
