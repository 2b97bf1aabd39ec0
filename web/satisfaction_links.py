"""The satisfaction question's page: ``GET /s/{token}`` shows the five scores, ``POST
/s/{token}`` records the chosen one and redirects to a thank-you (POST-redirect-GET).

A score is an ``inbound_event`` like any webhook — (link, satisfaction), payload
``{"case_id", "score"}`` — keyed by the case, so only the first submit is stored and
processed (``pipeline.inbound.answers`` records it with ``pipeline.satisfaction.ask``).
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pipeline.inbound.event_store import NewEvent
from pipeline.privacy.tokens import InvalidToken
from pipeline.satisfaction.links import read_satisfaction_token
from web import responses
from web.deps import settings_of
from web.webhooks import record

router = APIRouter(tags=["links"], responses=responses.LINK)
MAX_FORM_BYTES = 1024
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""
QUESTION = "How satisfied are you with how the recall was handled? · 您对本次处理是否满意？"
THANKS = "Thank you, your answer is recorded. · 谢谢，您的评分已记录。"


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title="Recall", body=body), status_code=status)


def _case_id(request: Request, token: str) -> int | None:
    try:
        return read_satisfaction_token(token, secret_key=settings_of(request).secret_key)
    except InvalidToken:
        return None


@router.get("/s/{token}")
async def satisfaction_page(request: Request, token: str, done: str | None = None) -> Response:
    """The five scores as buttons (1 not at all … 5 very), or the thank-you."""
    if _case_id(request, token) is None:
        return _page("<p>This link is not valid.</p>", 400)
    if done is not None:
        return _page(f"<p>{THANKS}</p>")
    buttons = "".join(
        f'<button type="submit" name="score" value="{n}">{n}</button> ' for n in range(1, 6)
    )
    action = escape(f"/s/{token}", quote=True)
    form = f'<p>{QUESTION}</p><form method="post" action="{action}">{buttons}</form>'
    return _page(form + "<p>1 = not at all · 5 = very</p>")


@router.post("/s/{token}", openapi_extra=responses.LINK_FORM)
async def record_score(request: Request, token: str) -> Response:
    """Store the score (the first one per case) and redirect to the thank-you."""
    case_id = _case_id(request, token)
    if case_id is None:
        return _page("<p>This link is not valid.</p>", 400)
    body = await request.body()
    form = dict(parse_qsl(body[:MAX_FORM_BYTES].decode("utf-8", "replace"), max_num_fields=8))
    score = form.get("score", "")
    if score not in ("1", "2", "3", "4", "5"):
        return _page("<p>Choose a score from 1 to 5.</p>", 400)
    payload = {"case_id": case_id, "score": int(score)}
    await record(request, [NewEvent("link", "satisfaction", f"satisfaction:{case_id}", payload)])
    return RedirectResponse(f"/s/{token}?done=1", status_code=303)
