"""What the sandbox does: callback delays, how simulated users answer, which faults it injects.

Number patterns (by the end of the ``To`` number, longest suffix wins; ``number_faults``):

==========  =====================================================================
suffix      behaviour
==========  =====================================================================
``9911``    API 400, Twilio 21211 (invalid 'To' number) — SMS and calls
``9910``    API 400, Twilio 21610 (recipient replied STOP earlier) — SMS
``9914``    API 400, Twilio 21614 ('To' is not SMS-capable) — SMS
``9935``    API 400, Twilio 21635 ('To' is a landline) — SMS and calls
``9906``    accepted, then ``undelivered`` with ErrorCode 30006 (landline/unreachable carrier)
``9903``    accepted, then ``undelivered`` with ErrorCode 30003 (handset unreachable)
``9977``    calls are answered by a machine (AnsweredBy=machine_end_beep)
==========  =====================================================================

Email: an address whose domain ends in ``.invalid`` (or has no ``@``) gets SendGrid's 400
"Does not contain a valid address"; one whose local part starts with ``bounce`` is accepted
and then bounces.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, Field, field_validator

from channels.callbacks import CONNECTION_OVERRIDES
from pipeline.settings import Settings, get_settings

DEFAULT_NUMBER_FAULTS = {
    "9911": 21211,
    "9910": 21610,
    "9914": 21614,
    "9935": 21635,
    "9906": 30006,
    "9903": 30003,
}
# Codes the API refuses at once (HTTP 400); the others fail later, in a status callback.
API_ERROR_CODES = frozenset({21211, 21610, 21614, 21635})
# "complain" last, at share 0 by default: the other answers' random picks stay as they were.
ANSWERS = ("agree", "refuse", "query", "stop", "silence", "complain")


class Shares(BaseModel):
    """How simulated users answer: relative weights (they need not add up to 1)."""

    agree: float = Field(default=0.6, ge=0)
    refuse: float = Field(default=0.1, ge=0)
    query: float = Field(default=0.1, ge=0)
    stop: float = Field(default=0.05, ge=0)
    silence: float = Field(default=0.15, ge=0)
    # A question that is a complaint (SMS only: a keypress or a link carries no words).
    complain: float = Field(default=0.0, ge=0)

    def pick(self, rng: random.Random) -> str:
        weights = [getattr(self, answer) for answer in ANSWERS]
        if sum(weights) <= 0:
            return "silence"
        return rng.choices(ANSWERS, weights=weights)[0]


class Faults(BaseModel):
    """Failures the provider APIs inject, as a share of requests."""

    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_5xx: float = Field(default=0.0, ge=0, le=1)
    slow_rate: float = Field(default=0.0, ge=0, le=1)
    slow_seconds: float = Field(default=5.0, ge=0)
    # Status callbacks as carriers deliver them: some sent twice, and in any order.
    duplicate_callbacks: float = Field(default=0.0, ge=0, le=1)
    shuffle_callbacks: bool = False
    # Each SendGrid event batch also carries a malformed event (no sg_event_id, a lone
    # surrogate in its text), as SendGrid's own batches sometimes do.
    bad_sendgrid_events: bool = False


class SandboxConfig(BaseModel):
    # Where the recall web app listens (callbacks and user actions go there).
    public_url: str = "http://127.0.0.1:8000"
    twilio_auth_token: str = "sandbox-auth-token"
    # None = accept any credentials; else a request with other ones gets 401 (Twilio 20003).
    twilio_account_sid: str | None = None
    sendgrid_api_key: str | None = None
    inbound_sms_url: str | None = None  # default {public_url}/webhooks/twilio/sms
    sendgrid_events_url: str | None = None  # default {public_url}/webhooks/sendgrid/events
    # Seconds (min, max) before each status callback, and before a user answers.
    callback_delay: tuple[float, float] = (0.2, 1.0)
    reply_delay: tuple[float, float] = (1.0, 5.0)
    # No delays at all (benchmarks, tests): callbacks and answers follow at once.
    immediate: bool = False
    # Play the users (replies, keypresses, clicks); off = provider callbacks only.
    users: bool = True
    shares: Shares = Field(default_factory=Shares)
    open_rate: float = Field(default=0.7, ge=0, le=1)
    # A simulated user answers only messages containing one of these (case-insensitive),
    # at most max_replies times, so follow-ups never start an endless conversation.
    answer_prompts: list[str] = Field(
        default_factory=lambda: ["reply yes", "text yes", "回复“同意”", "回复同意", '回复"同意"']
    )
    max_replies: int = Field(default=3, ge=0)
    # Scripted users, by phone number as sent to: each message that asks for an answer gets
    # the script's next line instead of a random answer ("" stays silent); "{code}" is the
    # reply code the message asks for, "{code:NAME}" the code it lists for recall NAME
    # (channels/sandbox/users.py: scripted_reply).
    scripts: dict[str, list[str]] = Field(default_factory=dict)
    faults: Faults = Field(default_factory=Faults)
    number_faults: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_NUMBER_FAULTS))
    machine_suffixes: list[str] = Field(default_factory=lambda: ["9977"])
    seed: int | None = None
    # Entries kept in each inspection log (requests, messages, callbacks); oldest dropped.
    max_log_entries: int = Field(default=200_000, ge=1)
    # Seconds before a Twilio webhook is retried (doubling, at most 8), when its URL's
    # connection overrides ask for retries (channels/sandbox/overrides.py).
    callback_retry_seconds: float = Field(default=1.0, ge=0)
    # Simultaneous outgoing callbacks; more wait their turn.
    max_concurrent_callbacks: int = Field(default=64, ge=1)

    @field_validator("callback_delay", "reply_delay")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low < 0 or high < low:
            raise ValueError("a delay is (min, max) seconds with 0 <= min <= max")
        return value

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> SandboxConfig:
        s = settings or get_settings()
        base = {"public_url": s.public_url, "twilio_auth_token": s.twilio_auth_token}
        return cls.model_validate({**base, **overrides})

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        """A copy with ``changes`` applied, validated. ``faults`` merge key by key; ``shares``
        and ``number_faults`` are replaced whole (an answer not named gets share 0)."""
        data = self.model_dump()
        for key, value in changes.items():
            if key == "shares" and isinstance(value, dict):
                data[key] = {**dict.fromkeys(ANSWERS, 0.0), **value}
            elif key == "faults" and isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return SandboxConfig.model_validate(data)

    def sms_inbound_url(self) -> str:
        # The default is what the README asks operators to configure: retries on 5xx.
        default = self.public_url.rstrip("/") + "/webhooks/twilio/sms" + CONNECTION_OVERRIDES
        return self.inbound_sms_url or default

    def events_url(self) -> str:
        return self.sendgrid_events_url or (
            self.public_url.rstrip("/") + "/webhooks/sendgrid/events"
        )

    def fault_for(self, number: str) -> int | None:
        digits = number.strip()
        matches = [suffix for suffix in self.number_faults if digits.endswith(suffix)]
        return self.number_faults[max(matches, key=len)] if matches else None

    def is_machine(self, number: str) -> bool:
        return any(number.strip().endswith(suffix) for suffix in self.machine_suffixes)
