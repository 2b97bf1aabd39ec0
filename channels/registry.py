"""Which adapter serves which channel kind: the core's registry, read from the installed
``recall.channels`` entry points (``pyproject.toml``)."""

from __future__ import annotations

from pipeline.channel_port import channel_for, channel_kinds, spec_for

__all__ = ["channel_for", "channel_kinds", "spec_for"]
