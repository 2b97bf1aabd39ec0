"""The channel interface every adapter implements — the core's port, seen from here.

To add a channel: a module here with a ``Channel`` subclass whose ``spec`` says what it
carries and can take (``pipeline.channel_port.ChannelSpec``), ``send(message)`` (a recall
notice for one escalation step) and ``send_text(message)`` (a follow-up), every provider
error classified as transient or permanent (``channels.errors``); then one line under
``[project.entry-points."recall.channels"]`` in ``pyproject.toml``. The core finds it there;
nothing outside ``channels/`` spells its name. See docs/ARCHITECTURE.md.

An adapter only sends: ``message`` is an ``Outbound`` the core has already rendered and
addressed (text, an email's subject/HTML/unsubscribe link, the campaign's deadline…). An
adapter imports neither ``pipeline.models`` nor the notice templates; an ``Outbound``
without an address is answered with a permanent ``no_address`` failure.

Failures reported later by status callbacks (undelivered with Twilio 30003/30006, a SendGrid
bounce) are classified with ``channels.errors.classify_delivery_error``.
"""

from __future__ import annotations

from enum import StrEnum

from pipeline.channel_port import (
    Channel,
    ChannelError,
    ChannelSpec,
    FailureKind,
    Outbound,
    SendFailure,
    SendResult,
)

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelKind",
    "ChannelSpec",
    "FailureKind",
    "Outbound",
    "SendFailure",
    "SendResult",
]


class ChannelKind(StrEnum):
    """The kinds the adapters in this package serve (the only place their names are spelled)."""

    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"
    WHATSAPP = "whatsapp"
