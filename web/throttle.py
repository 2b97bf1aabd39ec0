"""Failed-login throttling, per user name and per client address (issue 13).

Counts live in the database (``login_throttle``), so every web process sees the same ones.
Past ``login_failures_per_user`` failures for a name, or ``login_failures_per_address`` from
one address, within ``login_window_minutes``, each further try must wait: 30 s, doubling
with each failure, up to ``login_max_wait_seconds``. A try made while waiting is refused
before any password is checked, so it costs no hash. Names are keyed by an HMAC, never
stored as typed (people type passwords into the name field), and a name that does not
exist is throttled exactly like one that does, so throttling tells nothing either.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.db import dialect_insert, dialect_of
from pipeline.models import LoginThrottle
from pipeline.settings import Settings

FIRST_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Limits:
    window: timedelta
    per_user: int
    per_address: int
    max_wait: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            timedelta(minutes=settings.login_window_minutes),
            settings.login_failures_per_user,
            settings.login_failures_per_address,
            settings.login_max_wait_seconds,
        )


def keys(name: str, address: str, secret_key: str) -> dict[str, str]:
    """The throttle keys of one try: ``{"user": …, "address": …}``."""
    digest = hmac.new(secret_key.encode(), name.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return {"user": "user:" + digest.hexdigest()[:40], "address": "addr:" + address[:64]}


def wait_seconds(failures: int, threshold: int, max_wait: float) -> float:
    """How long a key with ``failures`` must wait after its last one (0: not at all)."""
    if failures < threshold:
        return 0.0
    return min(max_wait, FIRST_WAIT_SECONDS * 2 ** min(failures - threshold, 32))


def retry_after(session: Session, tries: dict[str, str], now: datetime, limits: Limits) -> int:
    """Seconds until a try with these keys may be checked; 0 when it may be now."""
    thresholds = {tries["user"]: limits.per_user, tries["address"]: limits.per_address}
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(thresholds)))
    longest = 0.0
    for row in rows:
        if row.first_failed_at < now - limits.window:
            continue
        wait = wait_seconds(row.failures, thresholds[row.key], limits.max_wait)
        longest = max(longest, (row.last_failed_at - now).total_seconds() + wait)
    return int(longest + 0.999) if longest > 0 else 0


def record_failure(session: Session, tries: dict[str, str], now: datetime, limits: Limits) -> None:
    """Count a failed try against both keys (a window that ran out starts again)."""
    session.execute(
        delete(LoginThrottle).where(LoginThrottle.first_failed_at < now - limits.window)
    )
    for key in tries.values():
        # One statement, so two processes failing at once both count.
        statement = dialect_insert(LoginThrottle, dialect_of(session)).values(
            key=key, failures=1, first_failed_at=now, last_failed_at=now
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[LoginThrottle.key],
                set_={"failures": LoginThrottle.failures + 1, "last_failed_at": now},
            )
        )


def forget_user(session: Session, tries: dict[str, str]) -> None:
    """A successful login clears its name's count (never its address's)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == tries["user"]))
