"""Twilio's connection overrides, as the sandbox obeys them: a callback URL's fragment
(``#rc=5&rp=ct,rt,5xx``) says how often and on what Twilio retries a failed webhook.
Without one Twilio retries once, on a connect timeout only — a 5xx is not retried — and the
sandbox does the same, so a test sees what production would lose.

The fragment is not sent, and not signed: the request goes to (and is signed for) the URL
without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

# Twilio's limits: at most 5 retries.
MAX_RETRIES = 5
POLICIES = frozenset({"4xx", "5xx", "ct", "rt", "all"})


@dataclass(frozen=True)
class Overrides:
    retries: int = 1
    policy: frozenset[str] = frozenset({"ct"})

    def retry_after(self, status: int | None, error: str | None) -> bool:
        """Whether a try that ended with ``status`` (or the network ``error``: ``ct`` for
        a failed connect, ``rt`` for a failed read) is retried."""
        if "all" in self.policy:
            return error is not None or (status is not None and status >= 400)
        if error is not None:
            return error in self.policy
        if status is None:
            return False
        return (status >= 500 and "5xx" in self.policy) or (
            400 <= status < 500 and "4xx" in self.policy
        )


def split(url: str) -> tuple[str, Overrides]:
    """The URL to call and sign, and the overrides its fragment asks for (malformed or
    unknown parts are ignored, as Twilio ignores them)."""
    target, _, fragment = url.partition("#")
    fields = dict(parse_qsl(fragment, keep_blank_values=True))
    retries = Overrides.retries
    raw = fields.get("rc", "")
    if raw.isascii() and raw.isdigit():
        retries = min(int(raw), MAX_RETRIES)
    policy = frozenset(p.strip() for p in fields.get("rp", "").split(",")) & POLICIES
    return target, Overrides(retries, policy or Overrides.policy)
