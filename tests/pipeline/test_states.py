from __future__ import annotations

from pipeline.states import CaseEvent, CaseState, Effect, transition


def test_agree_completes_when_campaign_completes_on_agree() -> None:
    result = transition(CaseState.AWAITING_RESPONSE, CaseEvent.AGREE)
    assert result.state is CaseState.COMPLETED
    assert Effect.SEND_CONFIRMATION in result.effects


def test_event_that_does_not_apply_is_ignored_not_raised() -> None:
    result = transition(CaseState.CANCELLED, CaseEvent.SENT)
    assert result.state is CaseState.CANCELLED
    assert not result.applied
