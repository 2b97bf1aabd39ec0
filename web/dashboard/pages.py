"""Rendering helper shared by the dashboard's route modules."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from web.auth import csrf_token
from web.dashboard.templating import templates


def render(
    request: Request, user: str, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page (or an htmx fragment) with the user and the session's CSRF token in context."""
    context.update(user=user, csrf=csrf_token(request))
    return templates.TemplateResponse(request, template, context, status_code=status_code)
