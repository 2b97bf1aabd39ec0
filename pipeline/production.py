"""Refusing to serve the development defaults to the internet (DESIGN, "Access").

Every default in ``Settings`` is chosen so that ``recall demo`` and a local run need no
configuration. Those defaults are public (they are in this repository), so a process whose
``RECALL_PUBLIC_URL`` is reachable from elsewhere would accept a session cookie or a
response link forged with them, let ``admin:admin`` in, and take webhooks signed with the
sandbox's Twilio token. ``recall web``, ``worker`` and ``scheduler`` ask ``unsafe_settings``
first and refuse to start while it names anything.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pipeline.settings import Settings

MIN_SECRET_LENGTH = 32
MIN_PLAIN_PASSWORD_LENGTH = 12
# The values this repository ships (Settings defaults and .env.example's placeholders).
DEFAULT_SECRET_KEYS = frozenset(
    {
        "change-me-in-production",
        "replace-with-a-long-random-string",
        "replace-with-another-long-random-string",
    }
)
DEFAULT_DASHBOARD_USERS = "admin:admin:admin"
# The default as it was before roles: refused just the same.
OLD_DEFAULT_DASHBOARD_USERS = "admin:admin"
SANDBOX_TWILIO_AUTH_TOKEN = "sandbox-auth-token"
SANDBOX_TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000000"
SANDBOX_SENDGRID_API_KEY = "SG.sandbox"
GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # an unclosed "[": not an address at all
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unsafe_settings(settings: Settings) -> list[str]:
    """One line per setting that must change before this process faces the internet;
    empty when the public URL is a loopback address (a local run keeps its defaults)."""
    if is_loopback_url(settings.public_url):
        return []
    return _secret_problems(settings) + _user_problems(settings) + _provider_problems(settings)


def _weak_secret(value: str | None) -> bool:
    return value is not None and (value in DEFAULT_SECRET_KEYS or len(value) < MIN_SECRET_LENGTH)


def _secret_problems(settings: Settings) -> list[str]:
    problems = []
    if _weak_secret(settings.secret_key):
        problems.append(
            f"RECALL_SECRET_KEY: set a random value of at least {MIN_SECRET_LENGTH} characters "
            f"(it signs sessions and response links); e.g. {GENERATE_HINT}"
        )
    if _weak_secret(settings.audit_key):
        problems.append(
            f"RECALL_AUDIT_KEY: set a random value of at least {MIN_SECRET_LENGTH} characters, "
            "or leave it unset"
        )
    return problems


def _user_problems(settings: Settings) -> list[str]:
    from pipeline.privacy.passwords import (
        parse_users,
    )  # the one parser of the list (no FastAPI in it)

    if settings.dashboard_users.strip() in (DEFAULT_DASHBOARD_USERS, OLD_DEFAULT_DASHBOARD_USERS):
        return ["RECALL_DASHBOARD_USERS: replace the default admin:admin with your own users"]
    try:
        users = parse_users(settings.dashboard_users)
    except ValueError as error:
        return [str(error)]
    return [
        f"RECALL_DASHBOARD_USERS: {name}'s password is stored in plain text and shorter than "
        f"{MIN_PLAIN_PASSWORD_LENGTH} characters; give a longer one or an argon2/bcrypt hash"
        for name, password in users.items()
        if not password.startswith("$") and len(password) < MIN_PLAIN_PASSWORD_LENGTH
    ]


def _provider_problems(settings: Settings) -> list[str]:
    sandbox_values = {
        "RECALL_TWILIO_AUTH_TOKEN": settings.twilio_auth_token == SANDBOX_TWILIO_AUTH_TOKEN,
        "RECALL_TWILIO_ACCOUNT_SID": settings.twilio_account_sid == SANDBOX_TWILIO_ACCOUNT_SID,
        "RECALL_SENDGRID_API_KEY": settings.sendgrid_api_key == SANDBOX_SENDGRID_API_KEY,
    }
    problems = [
        f"{name}: still the sandbox's public value; set the provider's own "
        "(for a sandbox rehearsal, any private value the sandbox is given too)"
        for name, is_default in sandbox_values.items()
        if is_default
    ]
    if not settings.twilio_auth_token:
        problems.append("RECALL_TWILIO_AUTH_TOKEN: empty; Twilio's webhooks cannot be verified")
    return problems


def refusal_message(problems: list[str], public_url: str) -> str:
    lines = [f"error: refusing to start with RECALL_PUBLIC_URL={public_url} (not loopback):"]
    return "\n".join(lines + [f"  - {problem}" for problem in problems])
