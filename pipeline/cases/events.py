"""Applying a state-machine event to a Case row: the database side of ``states.transition``.

``apply_event`` runs the pure transition, performs its effects on the rows (ladder, query
clock, suppression flags, answer fields, closing time), writes one audit record — also for
an event that did not apply, as ``case.ignored``, so nothing said about a case is lost — and
returns the follow-up messages the caller must send *after* committing.

The caller should hold the case row lock (load it ``FOR UPDATE`` on PostgreSQL) so two
events for one case never interleave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from pipeline.cases.policy import ladder_for
from pipeline.cases.states import (
    FINAL_STATES,
    CaseEvent,
    CaseState,
    Effect,
    Transition,
    transition,
)
from pipeline.channel_port import (
    channel_kinds,
    first_reachable,
    opted_out,
    reply_kinds,
    set_opted_out,
)
from pipeline.durations import parse_duration
from pipeline.models import Case, Recipient
from pipeline.privacy import audit
from pipeline.settings import get_settings

RESPONSE_EVENTS = frozenset({CaseEvent.AGREE, CaseEvent.REFUSE, CaseEvent.QUERY, CaseEvent.OPT_OUT})

FOLLOW_UP_KINDS = {
    Effect.SEND_CONFIRMATION: "confirmation",
    Effect.SEND_REFUSAL_FOLLOWUP: "refusal_followup",
    Effect.SEND_QUERY_ACK: "query_ack",
    Effect.SEND_OPT_OUT_CONFIRMATION: "opt_out_confirmation",
    Effect.SEND_OPT_IN_CONFIRMATION: "opt_in_confirmation",
    Effect.SEND_HELP: "help",
}


@dataclass(frozen=True)
class FollowUp:
    """A message the caller sends once the transaction has committed
    (``channel.send_followup(case_id, channel, kind)``)."""

    case_id: int
    channel: str
    kind: str


def apply_event(
    session: Session,
    case: Case,
    event: CaseEvent,
    *,
    now: datetime,
    actor: str,
    channel: str | None = None,
    detail: dict[str, Any] | None = None,
) -> list[FollowUp]:
    """Apply ``event`` to ``case`` (see the module docstring); returns follow-ups to send."""
    before = CaseState(case.state)
    step_before = case.step
    result = transition(before, event, complete_on_agree=case.campaign.completion == "on_agree")
    if not result.applied:
        _audit(session, case, event, before, result, actor, channel, detail, step_before)
        return []
    case.state = result.state.value
    effects = list(result.effects)
    exhausted = _apply_effects(case, result, now, channel)
    if exhausted is not None:
        case.state = exhausted.state.value
        effects += exhausted.effects
        _apply_effects(case, exhausted, now, channel)
    if event in RESPONSE_EVENTS:
        _record_answer(case, event, now, channel, step_before)
    _set_closed(case, now)
    _audit(session, case, event, before, result, actor, channel, detail, step_before, effects)
    return _follow_ups(case, effects, channel)


def _apply_effects(
    case: Case, result: Transition, now: datetime, channel: str | None
) -> Transition | None:
    """Performs the effects; returns the EXHAUSTED transition when the ladder ran out."""
    exhausted = None
    for effect in result.effects:
        if effect is Effect.STOP_LADDER:
            case.next_due_at = None
        elif effect is Effect.RESUME_LADDER:
            case.next_due_at = now + _step_wait(case)
        elif effect is Effect.SCHEDULE_NEXT_STEP:
            exhausted = _schedule_next_step(case, now)
        elif effect is Effect.OPEN_QUERY_CLOCK:
            case.query_due_at = now + query_sla(case.campaign.spec or {})
        elif effect is Effect.CLOSE_QUERY_CLOCK:
            case.query_due_at = None
        elif effect in (Effect.SUPPRESS_CHANNEL, Effect.UNSUPPRESS_CHANNEL):
            set_suppressed(case.recipient, channel, effect is Effect.SUPPRESS_CHANNEL)
    return exhausted


def _schedule_next_step(case: Case, now: datetime) -> Transition | None:
    ladder = ladder_for(case.campaign.policy or {}, case.recipient.risk_tier)
    if case.step + 1 < len(ladder):
        case.step += 1
        case.next_due_at = now
        return None
    # The ladder has no step left: the case is unreachable (the answer may still come).
    return transition(CaseState(case.state), CaseEvent.EXHAUSTED)


def _step_wait(case: Case) -> timedelta:
    ladder = ladder_for(case.campaign.policy or {}, case.recipient.risk_tier)
    return ladder[case.step].wait if case.step < len(ladder) else timedelta(0)


def set_suppressed(recipient: Recipient, channel: str | None, suppressed: bool) -> None:
    """The suppression list: an opt-out holds for every campaign on that channel."""
    if channel in channel_kinds():
        set_opted_out(recipient, channel, suppressed)


def _record_answer(
    case: Case, event: CaseEvent, now: datetime, channel: str | None, step: int
) -> None:
    case.last_response = event.value
    case.last_response_at = now
    case.answered_channel = channel
    case.answered_step = step


def _set_closed(case: Case, now: datetime) -> None:
    if case.state in FINAL_STATES:
        case.closed_at = case.closed_at or now
    else:
        # A late answer or a re-subscription reopens a closed case.
        case.closed_at = None


def _follow_ups(case: Case, effects: list[Effect], channel: str | None) -> list[FollowUp]:
    target = follow_up_channel(case.recipient, channel)
    if target is None:
        return []
    kinds = [FOLLOW_UP_KINDS[effect] for effect in effects if effect in FOLLOW_UP_KINDS]
    # The opt-out confirmation is the one message a suppressed channel still gets.
    suppressed = opted_out(case.recipient, target)
    return [
        FollowUp(case.id, target, kind)
        for kind in kinds
        if not suppressed or kind == "opt_out_confirmation"
    ]


def follow_up_channel(recipient: Recipient, channel: str | None) -> str | None:
    """Where a follow-up goes: back where the answer came from; a keypress is answered by
    SMS (a call cannot be reached later), or email when there is no usable phone."""
    if channel in reply_kinds():
        return channel
    return first_reachable(recipient)


def query_sla(spec: dict[str, Any]) -> timedelta:
    """The campaign's ``query_sla`` as stored at launch (``24h``, ``1h30m``), else the
    ``query_sla_hours`` setting."""
    value = spec.get("query_sla")
    if value is not None:
        try:
            return parse_duration(value)
        except ValueError:
            pass  # validated at launch; an odd stored value must not lose the event
    return timedelta(hours=get_settings().query_sla_hours)


def _audit(
    session: Session,
    case: Case,
    event: CaseEvent,
    before: CaseState,
    result: Transition,
    actor: str,
    channel: str | None,
    detail: dict[str, Any] | None,
    step_before: int,
    effects: list[Effect] | None = None,
) -> None:
    data: dict[str, Any] = {
        "case_id": case.id,
        "campaign_id": case.campaign_id,
        "event": event.value,
        "from": before.value,
        "to": case.state,
        "step": step_before,
        "applied": result.applied,
    }
    if result.applied:
        data["effects"] = [effect.value for effect in effects or ()]
        if case.step != step_before:
            data["next_step"] = case.step
    if channel:
        data["channel"] = channel
    if detail:
        data["detail"] = detail
    action = f"case.{event.value}" if result.applied else "case.ignored"
    audit.record(session, actor=actor, action=action, entity=f"case:{case.id}", data=data)
