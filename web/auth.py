"""Who may see the dashboard and the API (DESIGN, "Access").

People log in on a form; the session is held server side (``web.sessions``) and the browser
carries a signed cookie naming it. Scripts use HTTP Basic on ``/api``. Users come from
``RECALL_DASHBOARD_USERS`` (``pipeline.privacy.passwords``): every check costs the same whatever
the name.
Failed tries are throttled per name and per client address (``web.throttle``); every login,
failed or not, is logged (masked) and written to the audit log. Each form carries a CSRF
token bound to the session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.db import session_factory
from pipeline.errors import RecallError
from pipeline.privacy import audit
from pipeline.privacy.masking import log_event
from pipeline.privacy.passwords import (
    check_login,
    credential_of,
    parse_user_list,
    parse_users,
    set_hash_concurrency,
    verify_password,
)
from pipeline.settings import Settings, get_settings
from web import sessions, throttle
from web.dashboard.templating import templates
from web.deps import engine_of, settings_of
from web.limits import MAX_FORM_FIELDS
from web.prometheus import LOGIN_ATTEMPTS

__all__ = ["parse_users", "verify_password"]  # the user-list helpers, as they were here

log = logging.getLogger(__name__)

SESSION_COOKIE = sessions.COOKIE
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

_basic = HTTPBasic(auto_error=False, description="A user from RECALL_DASHBOARD_USERS")


class LoginRequired(RecallError):
    """Raised by page dependencies; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class LoginOutcome:
    user: str | None  # the name, when the password matched
    retry_after: int  # > 0: throttled, nothing was checked


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _db(request: Request) -> Session:
    return session_factory(engine_of(request))()


def attempt_login(request: Request, name: str, password: str, *, via: str) -> LoginOutcome:
    """Throttle, check, count, log and audit one try (form or HTTP Basic)."""
    settings = settings_of(request)
    limits = throttle.Limits.of(settings)
    tries = throttle.keys(name, _address(request), settings.secret_key)
    with _db(request) as db:
        wait = throttle.retry_after(db, tries, utcnow(), limits)
    if wait:
        LOGIN_ATTEMPTS.labels(outcome="throttled", via=via).inc()
        # Logged, not audited: a flood of refused tries must not grow the audit log.
        fields = {"address": _address(request), "via": via, "retry_after": wait}
        log_event(log, "auth.login_throttled", logging.WARNING, **fields)
        return LoginOutcome(None, wait)
    user = check_login(settings.dashboard_users, name, password)
    with _db(request) as db:
        if user is None:
            throttle.record_failure(db, tries, utcnow(), limits)
        else:
            throttle.forget_user(db, tries)
        known = name in parse_user_list(settings.dashboard_users)
        _report(db, request, name, via=via, outcome="ok" if user else "failed", known=known)
        db.commit()
    return LoginOutcome(user.name if user else None, 0)


def _report(
    db: Session, request: Request, name: str, *, via: str, outcome: str, known: bool
) -> None:
    # A name that is no user is never written down: people type passwords into that field.
    shown = name[:64] if known else "(unknown user)"
    fields = {"user": shown, "address": _address(request), "via": via}
    LOGIN_ATTEMPTS.labels(outcome=outcome, via=via).inc()
    if outcome == "ok" and via == "basic":
        # A script authenticates on every request: a success is routine, not an event.
        log_event(log, "auth.login_ok", logging.DEBUG, **fields)
        return
    level = logging.INFO if outcome == "ok" else logging.WARNING
    log_event(log, f"auth.login_{outcome}", level, **fields)
    action = "auth.login" if outcome == "ok" else f"auth.login_{outcome}"
    audit.record(db, actor=shown, action=action, entity="dashboard", data=fields)


def authenticate(request: Request, name: str, password: str) -> bool:
    return attempt_login(request, name, password, via="basic").user is not None


def session_user(request: Request) -> str | None:
    """The logged-in user of this request's session, checked against the database."""
    if hasattr(request.state, "user"):
        cached: str | None = request.state.user
        return cached
    request.state.user = user = _check_session(request)
    return user


def _check_session(request: Request) -> str | None:
    token = request.session.get("sid")
    if not isinstance(token, str):
        return None
    settings = settings_of(request)
    idle = timedelta(minutes=settings.session_idle_minutes)
    with _db(request) as db:
        row = sessions.live(db, token, now=utcnow(), idle=idle)
        user = parse_user_list(settings.dashboard_users).get(row.user_name) if row else None
        if row is not None and (
            user is None or row.credential != credential_of(user, settings.secret_key)
        ):
            db.delete(row)  # the user was removed, or the password or role changed
            row = None
        db.commit()
    if row is None:
        request.session.clear()
        return None
    return row.user_name


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def page_user(request: Request) -> str:
    """Dependency for dashboard pages: the logged-in user, else off to the login page."""
    user = session_user(request)
    if user is None:
        raise LoginRequired(request.url.path)
    return user


def api_user(request: Request, credentials: HTTPBasicCredentials | None = Depends(_basic)) -> str:
    """Dependency for ``/api``: HTTP Basic, or the browser's session; 401 otherwise."""
    if credentials is not None:
        outcome = attempt_login(request, credentials.username, credentials.password, via="basic")
        if outcome.retry_after:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many failed logins; try again in {outcome.retry_after} s",
                headers={"Retry-After": str(outcome.retry_after)},
            )
        if outcome.user is not None:
            return outcome.user
    elif (user := session_user(request)) is not None:
        return user
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "authentication required",
        headers={"WWW-Authenticate": 'Basic realm="recall"'},
    )


async def require_csrf(request: Request) -> None:
    """Dependency for every state-changing form: the token must match the session's."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or given is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing CSRF token")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "bad CSRF token")


def _safe_next(next_path: str | None) -> str:
    # Only local paths: a login link must not bounce people to another site.
    if next_path and next_path.startswith("/") and not next_path.startswith("//"):
        return next_path
    return "/dashboard"


router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    context = {"next": _safe_next(next), "error": None, "csrf": csrf_token(request)}
    return templates.TemplateResponse(request, "login.html", context)


def _login_refused(request: Request, next_path: str, outcome: LoginOutcome) -> Response:
    error, code, headers = "Wrong name or password.", 401, {}
    if outcome.retry_after:
        error = f"Too many failed logins. Try again in {outcome.retry_after} s."
        code, headers = 429, {"Retry-After": str(outcome.retry_after)}
    context = {"next": _safe_next(next_path), "error": error, "csrf": csrf_token(request)}
    return templates.TemplateResponse(
        request, "login.html", context, status_code=code, headers=headers
    )


@router.post("/login", dependencies=[Depends(require_csrf)])
def login(
    request: Request,
    username: str = Form(..., max_length=256),
    password: str = Form(..., max_length=1024),
    next: str = Form("/dashboard", max_length=2048),
) -> Response:
    outcome = attempt_login(request, username, password, via="form")
    if outcome.user is None:
        return _login_refused(request, next, outcome)
    settings = settings_of(request)
    user = parse_user_list(settings.dashboard_users)[outcome.user]
    with _db(request) as db:
        token, expires = sessions.start(
            db,
            user=user.name,
            credential=credential_of(user, settings.secret_key),
            now=utcnow(),
            absolute=timedelta(hours=settings.session_absolute_hours),
            idle=timedelta(minutes=settings.session_idle_minutes),
        )
        db.commit()
    request.session.clear()  # a fresh session (and CSRF token) for the logged-in user
    request.session.update({"sid": token, "exp": int(expires.timestamp())})
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request) -> Response:
    token = request.session.get("sid")
    if isinstance(token, str):
        with _db(request) as db:
            sessions.end(db, token)
            db.commit()
    request.session.clear()
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)


def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = "/login?next=" + quote(exc.next_path, safe="/")
    if request.headers.get("hx-request"):
        # htmx follows this header with a full page load instead of swapping a fragment.
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)


def install(app: FastAPI) -> None:
    """Sessions, the login routes and the redirect for anonymous page views."""
    settings: Settings = getattr(app.state, "settings", None) or get_settings()
    set_hash_concurrency(settings.login_hash_concurrency)
    app.add_middleware(
        sessions.SessionCookieMiddleware,
        secret_key=settings.secret_key,
        https=settings.public_url.startswith("https://"),
        max_seconds=settings.session_absolute_hours * 3600,
    )
    app.add_exception_handler(LoginRequired, _to_login)
    app.include_router(router)


def operator_api_user(user: str = Depends(api_user)) -> str:
    """Dependency for ``/api`` routes that change a recall's data (remedies): the operator
    role. Roles are slice 17a's: this is the one place that will check it, and until then
    it accepts any logged-in user."""
    return user


def operator_page_user(user: str = Depends(page_user)) -> str:
    """Dependency for dashboard actions that change a recall's data (remedy done): the
    operator role, as ``operator_api_user``; today any logged-in user."""
    return user
