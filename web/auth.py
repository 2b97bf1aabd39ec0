"""Who may see the dashboard and the API (DESIGN, "Access").

People log in on a form and carry a signed session cookie (Starlette's SessionMiddleware,
keyed with ``RECALL_SECRET_KEY``); scripts use HTTP Basic on ``/api``. Users come from
``RECALL_DASHBOARD_USERS``: ``name:password`` pairs, comma separated, where a password may
be an argon2 (``$argon2…``) or bcrypt (``$2b$…``) hash. Every check runs in constant time
and an unknown name costs the same as a wrong password, so timing tells nothing. Each form
carries a CSRF token bound to the session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from functools import lru_cache
from urllib.parse import quote

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.middleware.sessions import SessionMiddleware

from pipeline.settings import get_settings
from web.dashboard.templating import templates
from web.deps import settings_of

log = logging.getLogger(__name__)

SESSION_COOKIE = "recall_session"
SESSION_MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

_hasher = PasswordHasher()
_basic = HTTPBasic(auto_error=False, description="A user from RECALL_DASHBOARD_USERS")


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@lru_cache(maxsize=4)
def parse_users(spec: str) -> dict[str, str]:
    """``"ann:pw,bob:$argon2id$v=19$m=65536,t=3,p=4$…"`` → ``{name: password-or-hash}``.

    An argon2 hash contains commas, so a piece without a ``:`` continues the previous one.
    """
    pieces: list[str] = []
    for piece in spec.split(","):
        if ":" not in piece and pieces:
            pieces[-1] += "," + piece
        else:
            pieces.append(piece)
    users: dict[str, str] = {}
    for piece in pieces:
        name, sep, password = piece.strip().partition(":")
        if not sep or not name or not password:
            raise ValueError(
                f"RECALL_DASHBOARD_USERS: entry {name or piece!r} is not name:password"
            )
        users[name] = password
    return users


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def verify_password(stored: str, given: str) -> bool:
    """Compare against a plain password or an argon2/bcrypt hash, in constant time."""
    if stored.startswith("$argon2"):
        try:
            return _hasher.verify(stored, given)
        except (VerificationError, InvalidHashError):
            return False
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            return bcrypt.checkpw(given.encode(), stored.encode())
        except ValueError:
            return False
    return hmac.compare_digest(stored.encode(), given.encode())


def authenticate(request: Request, name: str, password: str) -> bool:
    users = parse_users(settings_of(request).dashboard_users)
    stored = users.get(name)
    if stored is None:
        # Same work as a real check, so an unknown name is not told apart by timing.
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(stored, password)


def session_user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if isinstance(user, str) else None


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
        if authenticate(request, credentials.username, credentials.password):
            return credentials.username
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
        form = await request.form()
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


@router.post("/login", dependencies=[Depends(require_csrf)])
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/dashboard"),
) -> Response:
    if not authenticate(request, username, password):
        log.info("dashboard.login_failed", extra={"user": username[:64]})
        context = {
            "next": _safe_next(next),
            "error": "Wrong name or password.",
            "csrf": csrf_token(request),
        }
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    request.session.clear()  # a fresh session (and CSRF token) for the logged-in user
    request.session["user"] = username
    csrf_token(request)
    log.info("dashboard.login", extra={"user": username})
    return RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request) -> Response:
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
    settings = getattr(app.state, "settings", None) or get_settings()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )
    app.add_exception_handler(LoginRequired, _to_login)
    app.include_router(router)
