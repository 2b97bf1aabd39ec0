"""Response links from email: ``GET /r/{token}`` shows the notice and the three answers,
``POST /r/{token}`` records the chosen one and redirects back (POST-redirect-GET).

The signed token (``pipeline.tokens``) names the case and the answer the recipient clicked
in the email; that answer is highlighted, but the page lets them choose any of the three.
A recorded answer is an ``inbound_event`` like any webhook (provider ``link``), keyed by
token and answer so a double click stores and enqueues nothing new. Its payload is
``{"case_id", "answer", "text", "token"}``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from pipeline.clock import utcnow
from pipeline.models import Case
from web.deps import engine_of
from web.events import NewEvent
from web.voice import page_locale
from web.webhooks import record

log = logging.getLogger(__name__)

router = APIRouter(tags=["links"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

ANSWERS = ("agree", "refuse", "query")
MAX_TEXT = 2000

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Recall notice",
        "agree": "I agree",
        "refuse": "I refuse",
        "query": "Send my question",
        "question_label": "Have a question? Type it here:",
        "done_agree": "Thank you. Your agreement has been recorded.",
        "done_refuse": "Your answer has been recorded. We will contact you to understand why.",
        "done_query": "Thank you. Your question has been sent; an agent will answer soon.",
        "invalid": "This link is not valid. Please use the link from your message.",
        "expired": "This link has expired. Please reply to the message you received instead.",
        "gone": "This notice is no longer available.",
        "empty_question": "Please type your question before sending it.",
    },
    "zh-CN": {
        "title": "召回通知",
        "agree": "我同意",
        "refuse": "我拒绝",
        "query": "发送我的问题",
        "question_label": "有疑问？请在此输入：",
        "done_agree": "谢谢您。您的同意已记录。",
        "done_refuse": "您的回答已记录。我们会联系您了解原因。",
        "done_query": "谢谢您。您的问题已发送，客服会尽快答复。",
        "invalid": "此链接无效。请使用您收到的消息中的链接。",
        "expired": "此链接已过期。请直接回复您收到的消息。",
        "gone": "此通知已不再可用。",
        "empty_question": "请先输入您的问题再发送。",
    },
}


def _page(
    request: Request, locale: str, status: int = 200, message: str = "", **extra: Any
) -> Response:
    t = TEXT[locale]
    context: dict[str, Any] = {"locale": locale, "t": t, "title": t["title"], "message": message}
    context |= {"show_form": False, "notice_body": "", "chosen": None, "max_text": MAX_TEXT}
    context |= extra
    return templates.TemplateResponse(request, "response.html", context, status_code=status)


def _read_token(token: str) -> tuple[int, str] | str:
    """(case id, answer) from the token, or the reason it cannot be used."""
    from pipeline.tokens import ExpiredToken, InvalidToken, read_response_token

    try:
        case_id, answer = read_response_token(token, utcnow())
    except ExpiredToken:
        return "expired"
    except InvalidToken:
        return "invalid"
    return int(case_id), str(answer)


def _token_refused(request: Request, reason: str) -> Response:
    log.info("link.refused", extra={"reason": reason})
    return _page(request, "en", 410 if reason == "expired" else 400, TEXT["en"][reason])


def _notice_view(engine: Engine, case_id: int) -> tuple[str, str] | None:
    """(locale, notice text) for the case, or None when the case is gone."""
    from channels.templates import render_notice  # the channels team's module

    with Session(engine) as session:
        case = session.get(Case, case_id)
        if case is None:
            return None
        notice = render_notice(case, "email")
        body = getattr(notice, "text", None) or getattr(notice, "body", None) or str(notice)
        return page_locale(case.recipient.locale), str(body)


def _locale_of(engine: Engine, case_id: int) -> str:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        return page_locale(case.recipient.locale if case is not None else None)


@router.get("/r/{token}")
async def response_page(request: Request, token: str, done: str | None = None) -> Response:
    """The notice and the three answers, or a thank-you once an answer was recorded."""
    read = _read_token(token)
    if isinstance(read, str):
        return _token_refused(request, read)
    case_id, chosen = read
    if done in ANSWERS:
        locale = await run_in_threadpool(_locale_of, engine_of(request), case_id)
        return _page(request, locale, message=TEXT[locale][f"done_{done}"])
    view = await run_in_threadpool(_notice_view, engine_of(request), case_id)
    if view is None:
        return _page(request, "en", 410, TEXT["en"]["gone"])
    locale, body = view
    return _page(request, locale, show_form=True, notice_body=body, chosen=chosen)


def link_event_id(token: str, answer: str, text: str) -> str:
    """Same token, answer (and question) → same id, so a double submit is a no-op."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:40]
    event_id = f"link:{digest}:{answer}"
    if answer == "query":
        event_id += ":" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return event_id


@router.post("/r/{token}")
async def record_answer(
    request: Request, token: str, answer: str = Form(...), text: str = Form("")
) -> Response:
    """Record the chosen answer, then redirect to the thank-you page."""
    read = _read_token(token)
    if isinstance(read, str):
        return _token_refused(request, read)
    case_id, _ = read
    text = text.strip()
    if answer not in ANSWERS or len(text) > MAX_TEXT or (answer == "query" and not text):
        locale = await run_in_threadpool(_locale_of, engine_of(request), case_id)
        return _page(request, locale, 400, TEXT[locale]["empty_question"])
    payload = {"case_id": case_id, "answer": answer, "text": text, "token": token}
    event = NewEvent("link", "link_answer", link_event_id(token, answer, text), payload)
    await record(request, [event])
    return RedirectResponse(f"{request.url.path}?done={answer}", status_code=303)
