"""The case state machine: a pure function of (state, event) → new state and effects.

An event that does not apply in a state is reported as not applied (the caller records it)
and never raises: nothing a user or a provider says is lost to an error. Later answers
override earlier ones; the history lives in the response table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CaseState(StrEnum):
    PENDING = "pending"
    NOTIFYING = "notifying"
    AWAITING_RESPONSE = "awaiting_response"
    AGREED = "agreed"
    COMPLETED = "completed"
    REFUSED = "refused"
    QUERY_OPEN = "query_open"
    OPTED_OUT = "opted_out"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


class CaseEvent(StrEnum):
    NOTIFY = "notify"  # the pipeline starts a step's send
    SENT = "sent"  # the provider accepted the step's message
    SEND_FAILED = "send_failed"  # the step's channel cannot reach the user
    WAIT_ELAPSED = "wait_elapsed"  # the step's wait passed with no answer
    EXHAUSTED = "exhausted"  # no step is left on the ladder
    DEADLINE_PASSED = "deadline_passed"
    AGREE = "agree"
    REFUSE = "refuse"
    QUERY = "query"
    QUERY_ANSWERED = "query_answered"  # an agent answered the user's question
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    UNKNOWN = "unknown"
    REMEDY_CONFIRMED = "remedy_confirmed"
    CANCEL = "cancel"
    # A campaign's follow-up wave gives a non-responder one more round of the ladder.
    FOLLOW_UP_WAVE = "follow_up_wave"


class Effect(StrEnum):
    SCHEDULE_NEXT_STEP = "schedule_next_step"
    STOP_LADDER = "stop_ladder"
    # Back on the ladder at the step it left: escalation goes on after that step's wait.
    RESUME_LADDER = "resume_ladder"
    SEND_CONFIRMATION = "send_confirmation"
    SEND_REFUSAL_FOLLOWUP = "send_refusal_followup"
    SEND_QUERY_ACK = "send_query_ack"
    OPEN_QUERY_CLOCK = "open_query_clock"
    CLOSE_QUERY_CLOCK = "close_query_clock"
    SEND_OPT_OUT_CONFIRMATION = "send_opt_out_confirmation"
    SEND_OPT_IN_CONFIRMATION = "send_opt_in_confirmation"
    SEND_HELP = "send_help"
    SUPPRESS_CHANNEL = "suppress_channel"
    UNSUPPRESS_CHANNEL = "unsuppress_channel"


S, E, F = CaseState, CaseEvent, Effect

FINAL_STATES = frozenset({S.COMPLETED, S.OPTED_OUT, S.UNREACHABLE, S.CANCELLED})
# Still on the escalation ladder: no answer yet.
LADDER_STATES = frozenset({S.PENDING, S.NOTIFYING, S.AWAITING_RESPONSE})
ANSWER_EVENTS = frozenset({E.AGREE, E.REFUSE, E.QUERY})
# A user's answer may reopen a case that ran out of steps or time: they did answer.
ANSWERABLE_STATES = frozenset(
    {S.PENDING, S.NOTIFYING, S.AWAITING_RESPONSE, S.AGREED, S.COMPLETED, S.REFUSED}
    | {S.QUERY_OPEN, S.UNREACHABLE}
)


@dataclass(frozen=True)
class Transition:
    state: CaseState
    effects: tuple[Effect, ...] = field(default_factory=tuple)
    applied: bool = True


def ignored(state: CaseState) -> Transition:
    return Transition(state, (), applied=False)


def transition(state: CaseState, event: CaseEvent, *, complete_on_agree: bool = True) -> Transition:
    """The one place that says what an event does to a case."""
    handler = _HANDLERS.get(event)
    if handler is None:
        return ignored(state)
    return handler(state, complete_on_agree)


def _notify(state: CaseState, _: bool) -> Transition:
    if state in (S.PENDING, S.AWAITING_RESPONSE):
        return Transition(S.NOTIFYING)
    return ignored(state)


def _sent(state: CaseState, _: bool) -> Transition:
    return Transition(S.AWAITING_RESPONSE) if state is S.NOTIFYING else ignored(state)


def _escalate(state: CaseState, _: bool) -> Transition:
    if state in LADDER_STATES:
        return Transition(S.AWAITING_RESPONSE, (F.SCHEDULE_NEXT_STEP,))
    return ignored(state)


def _exhausted(state: CaseState, _: bool) -> Transition:
    if state in LADDER_STATES:
        return Transition(S.UNREACHABLE, (F.STOP_LADDER,))
    return ignored(state)


def _agree(state: CaseState, complete_on_agree: bool) -> Transition:
    if state not in ANSWERABLE_STATES or state is S.COMPLETED:
        return ignored(state)
    target = S.COMPLETED if complete_on_agree else S.AGREED
    return Transition(target, (F.STOP_LADDER, F.CLOSE_QUERY_CLOCK, F.SEND_CONFIRMATION))


def _refuse(state: CaseState, _: bool) -> Transition:
    if state not in ANSWERABLE_STATES:
        return ignored(state)
    return Transition(S.REFUSED, (F.STOP_LADDER, F.CLOSE_QUERY_CLOCK, F.SEND_REFUSAL_FOLLOWUP))


def _query(state: CaseState, _: bool) -> Transition:
    if state not in ANSWERABLE_STATES:
        return ignored(state)
    return Transition(S.QUERY_OPEN, (F.STOP_LADDER, F.OPEN_QUERY_CLOCK, F.SEND_QUERY_ACK))


def _query_answered(state: CaseState, _: bool) -> Transition:
    if state is S.QUERY_OPEN:
        return Transition(S.AWAITING_RESPONSE, (F.CLOSE_QUERY_CLOCK,))
    return ignored(state)


def _opt_out(state: CaseState, _: bool) -> Transition:
    # Suppression is recorded even on a closed case: the person asked not to be texted.
    effects = (F.SUPPRESS_CHANNEL, F.SEND_OPT_OUT_CONFIRMATION)
    if state in (S.COMPLETED, S.CANCELLED, S.OPTED_OUT):
        return Transition(state, effects)
    if state is S.AGREED:
        # An agreement stands, as it does once completed: STOP silences the channel, and
        # the remedy's confirmation can still complete the case.
        return Transition(state, (F.STOP_LADDER, *effects))
    return Transition(S.OPTED_OUT, (F.STOP_LADDER, F.CLOSE_QUERY_CLOCK, *effects))


def _opt_in(state: CaseState, _: bool) -> Transition:
    effects = (F.UNSUPPRESS_CHANNEL, F.SEND_OPT_IN_CONFIRMATION)
    if state is S.OPTED_OUT:
        # Opting out stopped the ladder; opting back in puts the notice back on it, so a
        # person who still has not answered is reminded as anyone else would be.
        return Transition(S.AWAITING_RESPONSE, (F.RESUME_LADDER, *effects))
    return Transition(state, effects)


def _help(state: CaseState, _: bool) -> Transition:
    return Transition(state, (F.SEND_HELP,))


def _remedy_confirmed(state: CaseState, _: bool) -> Transition:
    # The remedy done is the recall done, whatever the person said or did not say before:
    # a case that never agreed completes too (pipeline.remedies marks it so). Only a
    # cancelled case (out of scope) or a completed one (a repeat) is left as it is.
    if state in (S.CANCELLED, S.COMPLETED):
        return ignored(state)
    if state is S.AGREED:
        return Transition(S.COMPLETED)
    return Transition(S.COMPLETED, (F.STOP_LADDER, F.CLOSE_QUERY_CLOCK))


def _deadline(state: CaseState, _: bool) -> Transition:
    if state in LADDER_STATES:
        return Transition(S.UNREACHABLE, (F.STOP_LADDER,))
    return ignored(state)


def _cancel(state: CaseState, _: bool) -> Transition:
    if state in FINAL_STATES:
        return ignored(state)
    return Transition(S.CANCELLED, (F.STOP_LADDER, F.CLOSE_QUERY_CLOCK))


def _follow_up_wave(state: CaseState, _: bool) -> Transition:
    if state in (S.AWAITING_RESPONSE, S.UNREACHABLE):
        return Transition(S.AWAITING_RESPONSE, (F.SCHEDULE_NEXT_STEP,))
    return ignored(state)


def _unknown(state: CaseState, _: bool) -> Transition:
    return ignored(state)


_HANDLERS = {
    E.NOTIFY: _notify,
    E.SENT: _sent,
    E.SEND_FAILED: _escalate,
    E.WAIT_ELAPSED: _escalate,
    E.EXHAUSTED: _exhausted,
    E.DEADLINE_PASSED: _deadline,
    E.AGREE: _agree,
    E.REFUSE: _refuse,
    E.QUERY: _query,
    E.QUERY_ANSWERED: _query_answered,
    E.OPT_OUT: _opt_out,
    E.OPT_IN: _opt_in,
    E.HELP: _help,
    E.UNKNOWN: _unknown,
    E.REMEDY_CONFIRMED: _remedy_confirmed,
    E.CANCEL: _cancel,
    E.FOLLOW_UP_WAVE: _follow_up_wave,
}
