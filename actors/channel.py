"""``channel.send_sms|send_email|place_call`` (one claimed attempt each), their
``channel.send_<kind>_group`` (a list of claimed attempts, sent in turn by one worker thread
with one transaction per send, ``pipeline.cases.delivery_group``) and
``channel.send_followup``. Each channel has its own queue, so operations see each backlog.

Thin: take a provider slot per send, call ``pipeline.cases.delivery`` /
``pipeline.followups.outbox`` with the registry's adapters (``pipeline.channel_port.channel_for``),
log the outcome. Transient failures raise (Dramatiq retries, see ``actors.retry``); in a group
they are handed back as single sends after a backoff, so one bad number never holds up the
others. No free slot in time puts the message (a group: its unsent rest) back with a short
delay without spending a retry.
"""

from __future__ import annotations

import logging
import random
from collections import Counter

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors.broker import broker
from actors.limits import charge_segments, provider_slot
from actors.retry import RateLimited, retry_options
from pipeline.cases.delivery import SendOutcome, deliver_attempt
from pipeline.cases.delivery_group import GroupSender
from pipeline.channel_port import channel_for, channel_kinds, spec_for
from pipeline.followups.outbox import deliver_followup
from pipeline.settings import get_settings

log = logging.getLogger(__name__)
# The Twilio client logs ten INFO lines (URL, headers) per request: noise at scale, and it
# costs a worker measurable time per send.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

__all__ = [
    "SEND_ACTORS",
    "SEND_GROUP_ACTORS",
    "broker",
    "place_call",
    "send_email",
    "send_followup",
    "send_sms",
]


def _send(kind: str, attempt_id: int, actor: dramatiq.Actor[..., None]) -> None:
    units: list[float] = []  # told by the send itself: no transaction of its own to read it
    try:
        with provider_slot(kind):
            outcome = deliver_attempt(attempt_id, channel_for, get_settings(), on_sent=units.append)
    except RateLimited:
        actor.send_with_options(args=(attempt_id,), delay=random.randint(200, 1500))
        return
    # Billed by the segment: the provider's rate limit counts segments, not messages.
    if spec_for(kind).cost_unit == "segment" and outcome is SendOutcome.SENT:
        charge_segments(max(int(units[0] if units else 1), 1))
    log.info("channel.sent attempt=%s channel=%s outcome=%s", attempt_id, kind, outcome.value)


@dramatiq.actor(actor_name="channel.send_sms", queue_name="sms", **retry_options())
def send_sms(attempt_id: int) -> None:
    """Send the SMS of one claimed attempt, at most once."""
    _send("sms", attempt_id, send_sms)


@dramatiq.actor(actor_name="channel.send_email", queue_name="email", **retry_options())
def send_email(attempt_id: int) -> None:
    """Send the email of one claimed attempt, at most once."""
    _send("email", attempt_id, send_email)


@dramatiq.actor(actor_name="channel.place_call", queue_name="voice", **retry_options())
def place_call(attempt_id: int) -> None:
    """Place the call of one claimed attempt, at most once."""
    _send("voice", attempt_id, place_call)


SEND_ACTORS: dict[str, dramatiq.Actor[..., None]] = {
    "sms": send_sms,
    "email": send_email,
    "voice": place_call,
}


def _declare_send_actor(kind: str) -> dramatiq.Actor[..., None]:
    """``channel.send_<kind>`` for a channel the registry has and the three above do not:
    a new adapter needs no actor of its own."""

    def send(attempt_id: int) -> None:
        _send(kind, attempt_id, actor)

    send.__name__ = f"send_{kind}"
    send.__doc__ = f"Send the {kind} message of one claimed attempt, at most once."
    queue = spec_for(kind).queue or kind
    declare = dramatiq.actor(actor_name=f"channel.send_{kind}", queue_name=queue, **retry_options())
    actor: dramatiq.Actor[[int], None] = declare(send)
    return actor


for _kind in channel_kinds():
    if _kind not in SEND_ACTORS:
        SEND_ACTORS[_kind] = _declare_send_actor(_kind)


def _send_group(kind: str, attempt_ids: list[int], actor: dramatiq.Actor[..., None]) -> None:
    settings = get_settings()
    sender = GroupSender(channel_for, settings)
    rest: list[int] = []
    try:
        for index, attempt_id in enumerate(attempt_ids):
            try:
                with provider_slot(kind):
                    sender.send(attempt_id)
            except RateLimited:
                rest = attempt_ids[index:]
                break
    finally:
        sender.finish()  # the last call's outcome, committed before anything is enqueued
    if rest:
        actor.send_with_options(args=(rest,), delay=random.randint(200, 1500))
    for attempt_id in sender.transient:  # back to claimed: retried alone, with backoff
        delay = random.randint(settings.send_min_backoff_ms, 2 * settings.send_min_backoff_ms)
        SEND_ACTORS[kind].send_with_options(args=(attempt_id,), delay=delay)
    if spec_for(kind).cost_unit == "segment":
        for units in sender.sent_units:
            charge_segments(max(int(units), 1))
    outcomes = Counter(outcome.value for outcome in sender.outcomes.values())
    log.info(
        "channel.group_sent channel=%s outcomes=%s transient=%s deferred=%s",
        kind,
        dict(outcomes),
        len(sender.transient),
        len(rest),
    )


def _declare_send_group_actor(kind: str) -> dramatiq.Actor[..., None]:
    """``channel.send_<kind>_group``, on the channel's own queue."""

    def send_group(attempt_ids: list[int]) -> None:
        _send_group(kind, attempt_ids, actor)

    send_group.__name__ = f"send_{kind}_group"
    send_group.__doc__ = f"Send the {kind} messages of claimed attempts in turn, each at most once."
    queue = SEND_ACTORS[kind].queue_name
    declare = dramatiq.actor(
        actor_name=f"channel.send_{kind}_group", queue_name=queue, **retry_options()
    )
    actor: dramatiq.Actor[[list[int]], None] = declare(send_group)
    return actor


SEND_GROUP_ACTORS: dict[str, dramatiq.Actor[..., None]] = {
    kind: _declare_send_group_actor(kind) for kind in SEND_ACTORS
}


@dramatiq.actor(actor_name="channel.send_followup", queue_name="followup", **retry_options())
def send_followup(
    case_id: int, channel: str, kind: str, text: str | None = None, key: str | None = None
) -> None:
    """Send a follow-up (``pipeline.notices.templates.render_followup`` kinds) once. ``key`` makes
    it idempotent across separate enqueues; by default the message id does (redeliveries)."""
    message = CurrentMessage.get_current_message()
    key = key or (f"msg:{message.message_id}" if message else f"{case_id}:{channel}:{kind}")
    try:
        with provider_slot(channel):
            outcome = deliver_followup(
                key, case_id, channel, kind, text, channel_for, get_settings()
            )
    except RateLimited:
        send_followup.send_with_options(
            args=(case_id, channel, kind, text, key), delay=random.randint(200, 1500)
        )
        return
    log.info(
        "channel.followup_sent case=%s channel=%s kind=%s outcome=%s",
        case_id,
        channel,
        kind,
        outcome.value,
    )
