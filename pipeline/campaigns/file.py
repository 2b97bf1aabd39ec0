"""CAMPAIGN.yaml → a validated ``CampaignSpec``.

Every problem found is reported at once, each naming the file, the line (from the YAML
node it came from) and the field, e.g. ``campaign.yaml:14: escalation[1].wait: …``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.campaigns.moments import CheckAt, deadline_moment
from pipeline.campaigns.yaml_input import load_yaml, read_text_file
from pipeline.cases.policy import Step, default_tier_ladders, freeze_policy
from pipeline.channel_port import channel_kinds
from pipeline.clock import utcnow
from pipeline.durations import format_duration, parse_duration
from pipeline.errors import InputError, InputErrors
from pipeline.refusals.spec import RefusalReasonEntry, check_reasons

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


class Reason(StrEnum):
    PRODUCT_QUALITY = "product_quality"
    RULE_CHANGE = "rule_change"
    SECURITY_INCIDENT = "security_incident"
    REGULATORY = "regulatory"
    OTHER = "other"


class _Strict(BaseModel):
    # A misspelt key must be an error, not a setting silently ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _one_of(choices: tuple[str, ...]) -> str:
    """pydantic's own wording for a choice, so the message reads as it did for a Literal."""
    quoted = [f"'{choice}'" for choice in choices]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


class EscalationStep(_Strict):
    channel: str
    wait: Duration

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str) -> str:
        # The installed channels, from the port's registry: a new adapter needs no edit here.
        known = channel_kinds()
        if channel not in known:
            raise ValueError(f"Input should be {_one_of(known)}")
        return channel

    @field_validator("wait")
    @classmethod
    def _positive(cls, wait: timedelta) -> timedelta:
        if wait <= timedelta(0):
            raise ValueError("must be longer than zero")
        return wait

    def to_step(self) -> Step:
        return Step(channel=self.channel, wait=self.wait)


Ladder = Annotated[list[EscalationStep], Field(min_length=1)]
RiskTier = Annotated[int, Field(ge=1, le=3)]


class TierOverride(_Strict):
    escalation: Ladder

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        # `tiers: {1: [...]}` is accepted as shorthand for `{1: {escalation: [...]}}`.
        return {"escalation": data} if isinstance(data, list) else data


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 21:00 as the base-60 integer 1260 (minutes).
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    return value


ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]


class QuietHours(_Strict):
    """No notice is sent between ``start`` and ``end`` in the recipient's own time zone."""

    start: ClockTime = time(21, 0)
    end: ClockTime = time(8, 0)


class FollowUp(_Strict):
    """Check at ``check_at`` whether the completion rate reached ``target`` (a fraction)."""

    target: float = Field(gt=0, le=1)
    check_at: CheckAt


class TemplateParts(_Strict):
    """A campaign's own wording (Jinja2) for one locale; missing parts use the built-in
    notices in pipeline/notices/notices.<locale>.yaml, which also list the variables."""

    sms: str | None = None
    email_subject: str | None = None
    email_text: str | None = None
    email_html: str | None = None
    voice: str | None = None
    voice_machine: str | None = None
    followup_subject: str | None = None
    confirmation: str | None = None
    refusal_reason_ack: str | None = None
    which_campaign: str | None = None
    refusal_followup: str | None = None
    query_ack: str | None = None
    opt_out_confirmation: str | None = None
    opt_in_confirmation: str | None = None
    help: str | None = None
    agent_answer: str | None = None
    # The acknowledgement of a complaint (pipeline.complaints); may name {{ expected }}.
    complaint_ack: str | None = None
    remedy_reminder: str | None = None
    satisfaction_question: str | None = None


Deadline = Annotated[datetime, BeforeValidator(deadline_moment)]


class CampaignSpec(_Strict):
    """A validated campaign file. Stored whole in ``Campaign.spec`` at launch."""

    name: str = Field(min_length=1, max_length=256)
    reason: Reason
    description: str = Field(min_length=1)
    remedy: str = Field(min_length=1)
    deadline: Deadline
    escalation: Ladder
    tiers: dict[RiskTier, TierOverride] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    override_quiet_hours: bool = False
    completion: Literal["on_agree", "on_remedy"] = "on_agree"
    templates: dict[str, TemplateParts] = Field(default_factory=dict)
    help_text: str = ""
    follow_up: FollowUp | None = None
    query_sla: Duration | None = None
    # What the personal data is used for (free text; shown in the status and the report).
    purpose: str | None = Field(default=None, max_length=2000)
    # Money the campaign may spend (in RECALL_CURRENCY); passing it raises an incident.
    budget: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # Remind an agreed case whose remedy is not confirmed this long after it agreed (once,
    # before the deadline; pipeline.remedies.reminders).
    remedy_reminder: Duration | None = None
    # Ask each completed case one 1-5 satisfaction question (pipeline.satisfaction).
    satisfaction: bool = False
    # Why people refuse, as the refusal follow-up lists them (pipeline.refusals.spec).
    refusal_reasons: Annotated[list[RefusalReasonEntry] | None, AfterValidator(check_reasons)] = (
        None
    )

    @field_validator("deadline", "follow_up")
    @classmethod
    def _in_future(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked only when loading a file (context has "now"): a stored spec whose
        # deadline has since passed must still load.
        now = (info.context or {}).get("now")
        moment = value.check_at if isinstance(value, FollowUp) else value
        if now is not None and moment is not None and moment <= now:
            raise ValueError(f"must be in the future (it is {moment.isoformat()})")
        return value

    @field_validator("remedy_reminder")
    @classmethod
    def _reminder_positive(cls, wait: timedelta | None) -> timedelta | None:
        if wait is not None and wait <= timedelta(0):
            raise ValueError("must be longer than zero")
        return wait

    @model_validator(mode="after")
    def _override_only_for_security(self) -> CampaignSpec:
        if self.override_quiet_hours and self.reason is not Reason.SECURITY_INCIDENT:
            raise ValueError("override_quiet_hours is allowed only for reason security_incident")
        return self

    @property
    def complete_on_agree(self) -> bool:
        return self.completion == "on_agree"

    def policy(self) -> dict[str, Any]:
        """The escalation policy to freeze on the campaign row. A tier the file does not
        name gets the default for its risk (``policy.default_tier_ladders``)."""
        default = [step.to_step() for step in self.escalation]
        tiers: dict[int, list[Step]] = default_tier_ladders(default)
        tiers.update(
            {
                tier: [step.to_step() for step in override.escalation]
                for tier, override in self.tiers.items()
            }
        )
        return freeze_policy(default, tiers)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_campaign_file(path: str | Path, *, now: datetime | None = None) -> CampaignSpec:
    """Read and validate a campaign file; raises InputError / InputErrors naming lines."""
    text = read_text_file(Path(path), what="campaign file")
    return parse_campaign(text, source=str(path), now=now or utcnow())


def parse_campaign(text: str, *, source: str, now: datetime | None = None) -> CampaignSpec:
    """The campaign in ``text``, its templates checked by rendering every one of them;
    raises InputError / InputErrors (each naming the line and field), nothing else."""
    node, data = load_yaml(text, source)
    if not isinstance(data, dict):
        raise InputError(
            "expected a mapping of campaign settings (name: ..., reason: ...)", path=source, line=1
        )
    lines = _line_map(node)
    try:
        spec = CampaignSpec.model_validate(data, context={"now": now})
    except ValidationError as error:
        raise InputErrors(
            [_input_error(source, lines, detail) for detail in error.errors()],
            summary=f"{source}: the campaign file has {error.error_count()} problem(s)",
        ) from None
    _check_templates(spec, source, lines)
    return spec


def _check_templates(spec: CampaignSpec, source: str, lines: dict[tuple[Any, ...], int]) -> None:
    # channels renders the messages; the check is theirs, the file's line numbers are ours.
    from pipeline.notices.check import template_errors

    problems = template_errors(spec)
    if problems:
        raise InputErrors(
            [
                InputError(message, path=source, line=_nearest_line(lines, loc), field=_dotted(loc))
                for loc, message in problems
            ],
            summary=f"{source}: the campaign's templates have {len(problems)} problem(s)",
        )


def _input_error(source: str, lines: dict[tuple[Any, ...], int], detail: Any) -> InputError:
    loc = tuple(part for part in detail["loc"] if not _is_union_tag(part))
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "missing":
        message = "required"
    elif detail["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    elif detail["type"] != "value_error":  # pydantic's own wording: say what to write
        message = f"{message} ({_hint(loc)})"
    return InputError(message, path=source, line=_nearest_line(lines, loc), field=_dotted(loc))


_HINTS = {
    "escalation": "write a list of steps like - {channel: sms, wait: 24h}",
    "tiers": "write risk tiers 1-3, each with its ladder: {1: {escalation: [...]}}",
    "templates": "write one mapping per locale: {en: {sms: ...}}",
    "quiet_hours": 'write {start: "21:00", end: "08:00"}, or null for none',
    "follow_up": 'write {target: 0.9, check_at: "2027-06-01"}',
    "completion": "write on_agree or on_remedy",
    "refusal_reasons": "write a list like - {code: dealer_too_far, label: {en: ...}}",
    "reason": "write product_quality, rule_change, security_incident, regulatory or other",
}


def _hint(loc: tuple[Any, ...]) -> str:
    """What to write instead, for the setting at ``loc``."""
    top = str(loc[0]) if loc else ""
    return _HINTS.get(top, "see the CAMPAIGN.yaml table in the README")


def _is_union_tag(part: Any) -> bool:
    # pydantic names union branches in the location ("QuietHours", "function-after[…]").
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(top level)"


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        key = tuple(str(part) for part in loc[:end])
        if key in lines:
            return lines[key]
    return None


def _line_map(node: yaml.Node | None, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Path (keys and list indexes, as strings) → 1-based line of that value in the file."""
    if node is None:
        return {}
    lines = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            lines.update(_line_map(value, path))
            lines[path] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_map(item, (*prefix, str(i))))
    return lines
