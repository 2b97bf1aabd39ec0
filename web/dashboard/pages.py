"""Rendering helper shared by the dashboard's route modules."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from pipeline.privacy.roles import allows
from web.auth import csrf_token, role_of
from web.dashboard.templating import templates


def render(
    request: Request, user: str, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page (or an htmx fragment) with the user, their role, ``can(role)`` (the templates
    hide what the user's role may not use) and the session's CSRF token in context."""
    role = role_of(request, user)
    context.update(
        user=user, role=role, can=lambda needed: allows(role, needed), csrf=csrf_token(request)
    )
    return templates.TemplateResponse(request, template, context, status_code=status_code)
