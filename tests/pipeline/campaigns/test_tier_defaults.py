"""Default per-tier ladders: tier 1 sooner and repeated, tier 3 without calls."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipeline.campaigns.file import load_campaign_file
from pipeline.cases.policy import Step, default_tier_ladders, freeze_policy, ladder_for

LADDER = [
    Step("sms", timedelta(hours=24)),
    Step("email", timedelta(hours=24)),
    Step("voice", timedelta(hours=48)),
]


def test_high_risk_is_sooner_and_repeated() -> None:
    tier1 = default_tier_ladders(LADDER)[1]
    assert [step.channel for step in tier1] == ["sms", "email", "voice"] * 2
    assert [step.wait for step in tier1[:3]] == [
        timedelta(hours=12),
        timedelta(hours=12),
        timedelta(hours=24),
    ]
    assert sum((s.wait for s in tier1[:3]), timedelta()) < sum(
        (s.wait for s in LADDER), timedelta()
    )


def test_low_risk_is_not_called() -> None:
    assert [step.channel for step in default_tier_ladders(LADDER)[3]] == ["sms", "email"]
    calls_only = [Step("voice", timedelta(hours=1))]
    assert default_tier_ladders(calls_only)[3] == calls_only


def test_normal_tier_uses_the_ladder_as_written() -> None:
    policy = freeze_policy(LADDER, default_tier_ladders(LADDER))
    assert ladder_for(policy, 2) == LADDER
    assert len(ladder_for(policy, 1)) == 6 and len(ladder_for(policy, 3)) == 2


def test_campaign_file_without_tiers_freezes_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(
        "name: Kettle\nreason: product_quality\ndescription: d\nremedy: r\ndeadline: 7d\n"
        "escalation:\n  - {channel: sms, wait: 1h}\n  - {channel: voice, wait: 2h}\n"
        "tiers:\n  3: [{channel: email, wait: 3d}]\n",
        encoding="utf-8",
    )
    policy = load_campaign_file(path).policy()
    assert [step.channel for step in ladder_for(policy, 1)] == ["sms", "voice"] * 2
    assert ladder_for(policy, 1)[0].wait == timedelta(minutes=30)
    assert [step.channel for step in ladder_for(policy, 3)] == ["email"]  # the file's own
