"""The escalation policy frozen on a campaign at launch, and how to read it.

Stored JSON shape (``Campaign.policy``)::

    {"default": [{"channel": "sms", "wait_seconds": 86400}, ...],
     "tiers": {"1": [...], "3": [...]}}

A tier without an entry uses the default ladder. Freezing it means editing the campaign file
later never changes what running cases do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pipeline.channel_port import spec_for


@dataclass(frozen=True)
class Step:
    channel: str  # a kind the channel registry knows (pipeline.channel_port)
    wait: timedelta

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "wait_seconds": int(self.wait.total_seconds())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        return cls(channel=str(data["channel"]), wait=timedelta(seconds=data["wait_seconds"]))


def freeze_policy(default: Sequence[Step], tiers: Mapping[int, Sequence[Step]]) -> dict[str, Any]:
    return {
        "default": [step.to_json() for step in default],
        "tiers": {str(tier): [step.to_json() for step in steps] for tier, steps in tiers.items()},
    }


def ladder_for(policy: Mapping[str, Any], risk_tier: int) -> list[Step]:
    """The steps a recipient of ``risk_tier`` goes through, in order."""
    steps = policy.get("tiers", {}).get(str(risk_tier)) or policy.get("default", [])
    return [Step.from_json(step) for step in steps]


def ladder_channels(policy: Mapping[str, Any]) -> set[str]:
    """Every channel some tier's ladder uses."""
    ladders = [policy.get("default", []), *policy.get("tiers", {}).values()]
    return {str(step["channel"]) for ladder in ladders for step in ladder}


def default_tier_ladders(default: Sequence[Step]) -> dict[int, list[Step]]:
    """Per-tier ladders for a campaign file that names none (the follow-up policy's tiers).

    Tier 1 (high risk) gets every channel sooner and a second pass: the ladder with each
    wait halved, twice over. Tier 3 (low risk) gets fewer, gentler steps: no phone calls
    (unless calls are all the ladder has). Tier 2 uses the ladder as written.
    """
    sooner = [Step(step.channel, step.wait / 2) for step in default]
    gentle = [step for step in default if not spec_for(step.channel).takes_keypresses]
    gentle = gentle or list(default)
    return {1: sooner * 2, 3: gentle}
