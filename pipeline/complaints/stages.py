"""The complaint's stages and their deadlines (pure: no database).

routed → investigating → awaiting_approval → resolved → followed_up → summarised → closed,
and reopened (the customer is not satisfied) → investigating again. Each stage has a
deadline by which it must be done, from the complaint policy:

- routed: classified and routed within 1 hour of the question (checked when it happens);
  the investigation team formed within 2 working days of routing (leaving ``routed``);
- investigating: the investigation done within 3 working days of routing (or reopening);
- awaiting_approval: approved within 1 working day;
- resolved: the follow-up call within 1 working day of the handling;
- followed_up: the summary within 2 working days;
- summarised, closed: no deadline.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pipeline.complaints.working_days import add_working_days

ROUTED = "routed"
INVESTIGATING = "investigating"
AWAITING_APPROVAL = "awaiting_approval"
RESOLVED = "resolved"
FOLLOWED_UP = "followed_up"
SUMMARISED = "summarised"
CLOSED = "closed"
REOPENED = "reopened"
STAGES = (
    ROUTED,
    INVESTIGATING,
    AWAITING_APPROVAL,
    RESOLVED,
    FOLLOWED_UP,
    SUMMARISED,
    CLOSED,
    REOPENED,
)
OPEN_STAGES = tuple(stage for stage in STAGES if stage != CLOSED)

# The stage an agent may move a complaint to from each stage.
NEXT = {
    ROUTED: INVESTIGATING,
    REOPENED: INVESTIGATING,
    INVESTIGATING: AWAITING_APPROVAL,
    AWAITING_APPROVAL: RESOLVED,
    RESOLVED: FOLLOWED_UP,
    FOLLOWED_UP: SUMMARISED,
    SUMMARISED: CLOSED,
}
# A customer may say they are not satisfied once the complaint was handled.
REOPENABLE = frozenset({RESOLVED, FOLLOWED_UP, SUMMARISED, CLOSED})

ROUTE_WITHIN = timedelta(hours=1)
# (deadline name, working days, counted from): "clock" = routing or reopening, "stage" =
# entering the stage.
DEADLINES: dict[str, tuple[str, int, str]] = {
    ROUTED: ("team_formed", 2, "clock"),
    REOPENED: ("team_formed", 2, "clock"),
    INVESTIGATING: ("investigation", 3, "clock"),
    AWAITING_APPROVAL: ("approval", 1, "stage"),
    RESOLVED: ("follow_up_call", 1, "stage"),
    FOLLOWED_UP: ("summary", 2, "stage"),
}
DEADLINE_NAMES = ("routing", "team_formed", "investigation", "approval", "follow_up_call",
                  "summary")  # fmt: skip
OUTCOMES = ("upheld", "partly_upheld", "not_upheld")


class StageError(ValueError):
    """A move the stage rules do not allow; the message says which moves are."""


def stage_due(
    stage: str, entered_at: datetime, clock_at: datetime, holidays: frozenset[date]
) -> datetime | None:
    """By when ``stage``, entered at ``entered_at``, must be done (None: no deadline)."""
    rule = DEADLINES.get(stage)
    if rule is None:
        return None
    _, days, base = rule
    return add_working_days(clock_at if base == "clock" else entered_at, days, holidays)


def deadline_name(stage: str) -> str | None:
    rule = DEADLINES.get(stage)
    return rule[0] if rule else None


def expected_answer(clock_at: datetime, holidays: frozenset[date]) -> datetime:
    """When the person can expect an answer: the investigation done and approved."""
    investigated = add_working_days(clock_at, DEADLINES[INVESTIGATING][1], holidays)
    return add_working_days(investigated, DEADLINES[AWAITING_APPROVAL][1], holidays)


def check_move(current: str, target: str) -> None:
    """Raise StageError unless an agent may move a complaint from ``current`` to ``target``."""
    if target == REOPENED:
        if current not in REOPENABLE:
            raise StageError(f"a complaint in {current} cannot be reopened (not handled yet)")
        return
    allowed = NEXT.get(current)
    if allowed != target:
        expected = allowed or "nothing (reopen it instead)"
        raise StageError(f"a complaint in {current} moves to {expected}, not {target}")


def routed_in_time(opened_at: datetime, routed_at: datetime) -> bool:
    return routed_at - opened_at <= ROUTE_WITHIN
