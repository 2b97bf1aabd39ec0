"""``/docs`` and ``/openapi.json`` behind the login: the schema maps every route, and only
people who may use the API need that map (issue 13)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from web.auth import api_user, page_user

router = APIRouter(include_in_schema=False)

# Swagger UI's page is FastAPI's: its script and styles come from jsDelivr and it starts
# with an inline script, so this one page gets a policy of its own (web.security_headers).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@router.get("/openapi.json")
def openapi_schema(request: Request, user: str = Depends(api_user)) -> JSONResponse:
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


@router.get("/docs")
def swagger_ui(user: str = Depends(page_user)) -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="recall API")
    page.headers["content-security-policy"] = DOCS_POLICY
    return page
