"""The channel interface every adapter implements.

To add a provider: subclass ``Channel``, set ``kind`` and the capability flags, implement
``send`` (a recall notice for one escalation step) and ``send_text`` (a follow-up: a
confirmation, an acknowledgement, an agent's answer), and classify every provider error as
transient or permanent. Business rules — which channel, when, how often — stay out of the
adapter; they live in ``pipeline``. Register the adapter in ``channels.registry``.

How failures come back (every adapter does the same):

- **transient** (HTTP 429, 5xx, timeouts, connection errors, Twilio 20429, provider
  credentials refused): ``send``/``send_text`` *raise* ``ChannelError`` carrying the
  ``SendFailure``. Nothing was sent; the caller retries with backoff (Dramatiq retries) and
  gives up after a bounded number of tries.
- **permanent** (Twilio 21211 invalid number, 21610 unsubscribed, 21614 not SMS-capable,
  21635 landline, SendGrid 400 bad address, no phone/email on file): ``send`` *returns* a
  ``SendResult`` whose ``failure`` says why; the caller records the reason on the attempt
  and moves on to the next step. Retrying would only fail again.
- success: a ``SendResult`` with the provider's id (MessageSid, CallSid, X-Message-Id) and
  the cost units (SMS segments; 0 for calls, whose minutes arrive in the status callback).

Failures reported later by status callbacks (undelivered with Twilio 30003/30006, a SendGrid
bounce) are classified with ``channels.errors.classify_delivery_error``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.models import Case


class ChannelKind(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # retry later: 429, 5xx, timeouts
    PERMANENT = "permanent"  # record and move on: invalid number, unsubscribed, bad address


@dataclass(frozen=True)
class SendFailure:
    kind: FailureKind
    code: str
    reason: str

    @property
    def transient(self) -> bool:
        return self.kind is FailureKind.TRANSIENT


@dataclass(frozen=True)
class SendResult:
    """What a send produced: the provider's id and cost, or why it failed."""

    provider_id: str | None = None
    cost_units: float = 0.0
    failure: SendFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class ChannelError(Exception):
    """Raised by adapters only for a transient failure the caller should retry."""

    def __init__(self, failure: SendFailure) -> None:
        super().__init__(f"{failure.code}: {failure.reason}")
        self.failure = failure


class Channel(ABC):
    kind: ChannelKind
    # Capability flags: what the pipeline may ask of this adapter.
    supports_replies: bool = True  # can carry a free-text follow-up
    supports_status_callbacks: bool = True

    @abstractmethod
    def send(self, case: Case, step: int) -> SendResult:
        """Send the campaign's notice for ``step`` to the case's recipient."""

    @abstractmethod
    def send_text(self, case: Case, body: str) -> SendResult:
        """Send a follow-up (confirmation, acknowledgement, agent's answer)."""
