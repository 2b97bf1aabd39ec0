"""Which adapter serves which channel kind."""

from __future__ import annotations

from functools import cache

from channels.base import Channel, ChannelKind
from channels.email import EmailChannel
from channels.sms import SmsChannel
from channels.voice import VoiceChannel

_ADAPTERS: dict[ChannelKind, type[Channel]] = {
    ChannelKind.SMS: SmsChannel,
    ChannelKind.EMAIL: EmailChannel,
    ChannelKind.VOICE: VoiceChannel,
}


@cache
def channel_for(kind: str) -> Channel:
    """The adapter for ``kind`` ("sms", "email" or "voice"). Adapters hold no per-send
    state, so one instance serves every thread."""
    try:
        return _ADAPTERS[ChannelKind(kind)]()
    except ValueError:
        raise ValueError(f"unknown channel {kind!r}; expected sms, email or voice") from None
