"""Masking phone numbers and emails wherever a person or a log sees them, and the
structured-log helper every module uses.

Masked forms keep just enough to tell two people apart on a screen: the phone's country
code and last digits (``+1******4567``), the email's first letters and top-level domain
(``j***@e***.com``). A full view of one case is a separate, audited access.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import phonenumbers

# Keys whose values are message bodies: logged as a length, never as text.
BODY_KEYS = frozenset({"body", "text", "raw_text", "message", "reply", "content"})
# "+" and digits with the separators people type, or a bare run of 8–15 digits. Dates
# ("2026-11-22 21:16") have no "+" and no long digit run, so they stay readable.
_PHONE = re.compile(r"(?<![\w*+])(?:\+\d[\d\s().-]{5,}\d|\d{8,15})(?![\w*])")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_MIN_PHONE_DIGITS = 7


def _country_code(phone: str) -> str:
    try:
        return str(phonenumbers.parse(phone, None).country_code)
    except phonenumbers.NumberParseException:
        return phone[1:2]  # an unparseable "+..." still shows its first digit only


def mask_phone(phone: str | None) -> str:
    """``+14155554567`` → ``+1******4567``: country code and the last 2–4 digits."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if not digits:
        return "*" * len(phone)
    code = _country_code("+" + digits) if phone.strip().startswith("+") else ""
    national = digits[len(code) :]
    # Hide at least half, and never fewer than five digits of a full number.
    keep = 4 if len(national) >= 10 else 3 if len(national) >= 8 else 2 if len(national) >= 4 else 0
    shown = national[len(national) - keep :] if keep else ""
    return ("+" + code if code else "") + "*" * (len(national) - keep) + shown


def mask_email(email: str | None) -> str:
    """``john@example.com`` → ``j***@e***.com``."""
    if not email:
        return ""
    local, at, domain = email.partition("@")
    if not at:
        return (local[:1] + "***") if local else "***"
    labels = domain.split(".")
    tld = "." + labels[-1] if len(labels) > 1 else ""
    return f"{local[:1]}***@{domain[:1]}***{tld}"


def mask_text(text: str) -> str:
    """Every email and phone-looking number in free text, masked."""
    text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    return _PHONE.sub(_mask_phone_match, text)


def _mask_phone_match(match: re.Match[str]) -> str:
    found = match.group()
    if len(re.sub(r"\D", "", found)) < _MIN_PHONE_DIGITS:
        return found  # a date, an amount or an id: not a phone number
    return mask_phone(re.sub(r"[^\d+]", "", found))


def mask_value(key: str, value: Any) -> Any:
    """A log field's value as it may be shown: bodies as lengths, strings masked."""
    if key in BODY_KEYS and isinstance(value, str):
        return f"<{len(value)} chars>"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(key, v) for v in value]
    return value


class MaskingFilter(logging.Filter):
    """Masks phone numbers and emails in every record passing through (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # Its formatter unpacks the arguments: mask them one by one, keep the tuple.
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string must not drop the record
            message = str(record.msg)
        record.msg, record.args = mask_text(message), None
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = mask_value("fields", fields)
        return True


# Loggers whose handlers servers set up themselves (uvicorn's access and error logs).
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq")


def install_masking(logger: logging.Logger | None = None) -> None:
    """Attach the masking filter to every handler of ``logger`` (the root and the servers'
    own loggers by default), whoever configured them: dramatiq's CLI, uvicorn, or us."""
    targets = [logger] if logger else [logging.getLogger(), *map(logging.getLogger, SERVER_LOGGERS)]
    for target in targets:
        for handler in target.handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())


def configure_logging(level: str | int = "INFO") -> None:
    """One stderr handler on the root logger with masking attached; safe to call twice."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    install_masking(root)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured log line: ``event key=value ...`` with ``event`` and ``fields`` on the
    record for JSON formatters. Values are masked here, so no handler setup can leak them."""
    if not logger.isEnabledFor(level):
        return
    safe = {key: mask_value(key, value) for key, value in fields.items()}
    rendered = " ".join(f"{key}={value}" for key, value in safe.items())
    logger.log(level, "%s %s", event, rendered, extra={"event": event, "fields": safe})
