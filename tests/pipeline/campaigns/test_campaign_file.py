from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from pipeline.campaigns.file import CampaignSpec, Reason, load_campaign_file, parse_campaign
from pipeline.cases.policy import ladder_for
from pipeline.durations import format_duration, parse_duration
from pipeline.errors import InputError, InputErrors

EXAMPLE = Path(__file__).parents[3] / "examples" / "campaign.yaml"
NOW = datetime(2026, 11, 1, tzinfo=UTC)

VALID = """\
name: Kettle recall
reason: product_quality
description: Kettles can overheat.
remedy: Stop using it.
deadline: 2026-12-31
escalation:
  - {channel: sms, wait: 24h}
  - {channel: email, wait: 2d}
"""


def parse(text: str) -> CampaignSpec:
    return parse_campaign(text, source="c.yaml", now=NOW)


def errors_of(text: str) -> list[InputError]:
    with pytest.raises((InputErrors, InputError)) as caught:
        parse(text)
    error = caught.value
    return error.errors if isinstance(error, InputErrors) else [error]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("24h", 86400), ("2d", 172800), ("1h30m", 5400), (45, 45)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2 days", "h", "-5m", "1.5h", "3y", True])
def test_bad_durations_are_rejected(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


def test_format_duration_round_trips() -> None:
    for text in ("30s", "15m", "1d", "2d", "1h30m"):
        assert format_duration(parse_duration(text)) == text


def test_valid_file_and_defaults() -> None:
    spec = parse(VALID)
    assert spec.reason is Reason.PRODUCT_QUALITY
    assert spec.deadline == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert [s.channel for s in spec.escalation] == ["sms", "email"]
    assert spec.quiet_hours is not None
    assert (spec.quiet_hours.start, spec.quiet_hours.end) == (time(21), time(8))
    assert spec.completion == "on_agree" and spec.complete_on_agree
    assert spec.tiers == {} and spec.templates == {} and spec.follow_up is None


def test_quiet_hours_null_turns_them_off_and_unquoted_times_parse() -> None:
    assert parse(VALID + "quiet_hours: null\n").quiet_hours is None
    spec = parse(VALID + "quiet_hours: {start: 22:30, end: '07:15'}\n")
    assert spec.quiet_hours is not None
    assert (spec.quiet_hours.start, spec.quiet_hours.end) == (time(22, 30), time(7, 15))


def test_relative_deadline_is_from_now() -> None:
    spec = parse(VALID.replace("2026-12-31", "14d"))
    assert spec.deadline > datetime.now(UTC) + timedelta(days=13)


def test_tiers_policy_is_frozen_with_overrides() -> None:
    text = (
        VALID
        + "tiers:\n  1:\n    escalation: [{channel: voice, wait: 4h}]\n"
        + "  3: [{channel: email, wait: 3d}]\n"
    )
    policy = parse(text).policy()
    assert [s.channel for s in ladder_for(policy, 1)] == ["voice"]
    assert ladder_for(policy, 3)[0].wait == timedelta(days=3)
    assert [s.channel for s in ladder_for(policy, 2)] == ["sms", "email"]


def test_spec_json_round_trips() -> None:
    sms = "{# states: reason, scope, remedy #}召回通知，请于{{ deadline }}前回复“同意”或“不同意”"
    spec = parse(VALID + f"query_sla: 12h\ntemplates:\n  zh-CN: {{sms: '{sms}'}}\n")
    stored = spec.to_json()
    assert stored["escalation"][0] == {"channel": "sms", "wait": "1d"}
    assert stored["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    again = CampaignSpec.model_validate(stored)  # no "now": a past deadline still loads
    assert again == spec


@pytest.mark.parametrize(
    ("change", "field", "line", "words"),
    [
        (("reason: product_quality", "reason: recall"), "reason", 2, "product_quality"),
        (("deadline: 2026-12-31", "deadline: 2026-10-01"), "deadline", 5, "future"),
        (
            ("  - {channel: email, wait: 2d}", "  - {channel: fax, wait: 2d}"),
            "escalation[1].channel",
            8,
            "sms",
        ),
        (
            ("  - {channel: email, wait: 2d}", "  - {channel: email, wait: soon}"),
            "escalation[1].wait",
            8,
            "duration",
        ),
        (
            ("  - {channel: sms, wait: 24h}", "  - {channel: sms, wait: 0s}"),
            "escalation[0].wait",
            7,
            "zero",
        ),
        (("name: Kettle recall\n", ""), "name", 1, "required"),
        (("remedy: Stop using it.", "remedy: Stop.\nremdy: typo"), "remdy", 5, "unknown key"),
    ],
)
def test_each_error_names_line_and_field(
    change: tuple[str, str], field: str, line: int | None, words: str
) -> None:
    errors = errors_of(VALID.replace(*change))
    assert len(errors) == 1, errors
    (error,) = errors
    assert error.field == field and error.path == "c.yaml"
    assert error.line == line
    assert words in error.reason


def test_empty_escalation_is_an_error() -> None:
    text = VALID.split("escalation:")[0] + "escalation: []\n"
    (error,) = errors_of(text)
    assert error.field == "escalation" and error.line == 6


def test_override_quiet_hours_only_for_security_incidents() -> None:
    (error,) = errors_of(VALID + "override_quiet_hours: true\n")
    assert "security_incident" in error.reason
    spec = parse(
        VALID.replace("product_quality", "security_incident") + "override_quiet_hours: true\n"
    )
    assert spec.override_quiet_hours


def test_all_problems_reported_together() -> None:
    text = (
        VALID.replace("product_quality", "nope")
        .replace("24h", "often")
        .replace("2026-12-31", "2020-01-01")
    )
    fields = {e.field for e in errors_of(text)}
    assert fields == {"reason", "escalation[0].wait", "deadline"}


def test_yaml_syntax_error_names_the_line() -> None:
    (error,) = errors_of(VALID + "templates: {en: [\n")
    assert error.line is not None and error.line >= 9 and "YAML" in error.reason


def test_follow_up_and_completion_on_remedy() -> None:
    spec = parse(
        VALID + "completion: on_remedy\nfollow_up: {target: 0.9, check_at: 2026-12-15T09:00:00Z}\n"
    )
    assert not spec.complete_on_agree
    assert spec.follow_up is not None and spec.follow_up.target == 0.9
    (error,) = errors_of(VALID + "follow_up: {target: 1.5, check_at: 2026-12-15T09:00:00Z}\n")
    assert error.field == "follow_up.target" and error.line == 9


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_campaign_file(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(caught.value)


def test_example_campaign_is_valid() -> None:
    spec = load_campaign_file(EXAMPLE)
    assert spec.reason is Reason.PRODUCT_QUALITY
    assert [s.channel for s in spec.escalation] == ["sms", "email", "voice"]
    assert set(spec.tiers) == {1, 3}


def test_template_parts_are_the_ones_channels_render() -> None:
    email = "{# states: reason, scope, remedy, deadline, answer #}Hi"
    parts = f"    email_text: '{email}'\n    confirmation: Thanks\n"
    spec = parse(VALID + "templates:\n  en:\n" + parts)
    assert spec.templates["en"].email_text == email
    (error,) = errors_of(VALID + "templates:\n  en:\n    smss: Hi\n")
    assert (error.field, error.line) == ("templates.en.smss", 11)
