"""Shared fixtures of the actor tests."""

from __future__ import annotations

import pytest

import actors.channel
from tests.pipeline_factories import RecordingChannel


@pytest.fixture
def sms(monkeypatch: pytest.MonkeyPatch) -> RecordingChannel:
    """Every channel the actors look up records what it is asked to send instead."""
    channel = RecordingChannel()
    monkeypatch.setattr(actors.channel, "channel_for", lambda kind: channel)
    return channel
