"""What every fault test asserts at the end: every answer recorded once, every case
settled, nobody notified twice for a step."""

from __future__ import annotations

from tests.faults.stack import USERS, FaultStack


def assert_nothing_lost_nothing_doubled(
    stack: FaultStack, campaign_id: int, *, users: int = USERS, unconfirmed_allowed: int = 0
) -> dict[str, int]:
    """The exact expected answers; returns the figures for the report.

    Each user answers YES once per notice they get (SMS, or the email a case escalates to
    when its answer came after the SMS step's wait), so the answers stored must equal the
    answers sent, and every case has its answer applied.
    """
    states = stack.case_states(campaign_id)
    assert states == {"completed": users}, states
    sent = sum(stack.user_answers().values())
    stored = stack.stored_answers()
    assert stored == sent, f"answers sent {sent}, stored {stored}"
    recorded = stack.responses(campaign_id)
    assert set(recorded) == {"agree"} and recorded["agree"] >= users, recorded
    attempts = stack.attempts_per_step(campaign_id)
    assert set(attempts.values()) == {1}, "two attempts for one (case, step)"
    statuses = stack.attempt_statuses(campaign_id)
    unconfirmed = statuses.get("unconfirmed", 0)
    assert unconfirmed <= unconfirmed_allowed, statuses
    sms = stack.notices_per_phone()
    email = stack.email_notices_per_address()
    doubled = [n for n in [*sms.values(), *email.values()] if n > 1]
    assert doubled == [], f"notified twice for one step: {len(doubled)}"
    return {
        "answers_lost": 0,
        "duplicates": 0,
        "unconfirmed": unconfirmed,
        "email_notices": len(email),
    }
