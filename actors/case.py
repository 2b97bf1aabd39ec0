"""``case.notify`` and ``case.notify_group``: the entry points for a case's due work (send
the step, recover a lost send, escalate after the step's wait). The scheduler's sweep and
the fan-out only enqueue groups of cases; what is due is decided here from the database.
``case.notify`` (one case) stays for messages already queued and for cases a group hands back.
A group's sends go out as ``channel.send_<kind>_group`` messages of ``send_group_size``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import dramatiq

from actors.batch import enqueue_many, enqueue_messages
from actors.broker import broker
from actors.channel import SEND_ACTORS, SEND_GROUP_ACTORS
from actors.retry import retry_options
from pipeline.cases.notify import NotifyResult, Outcome, notify_case
from pipeline.cases.notify_group import notify_group as notify_cases
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

__all__ = ["broker", "enqueue_notify", "notify", "notify_group"]


@dramatiq.actor(actor_name="case.notify", queue_name="case", **retry_options())
def notify(case_id: int) -> None:
    """Do whatever is due for case ``case_id``; enqueue its send after the commit."""
    with session_scope() as session:
        result = notify_case(session, case_id, utcnow(), get_settings())
    send = _send_message(result)
    if send is not None:
        broker.enqueue(send)
    log.info(
        "case.notified case=%s outcome=%s reason=%s channel=%s",
        case_id,
        result.outcome.value,
        result.reason,
        result.channel,
    )


@dramatiq.actor(actor_name="case.notify_group", queue_name="case", **retry_options())
def notify_group(case_ids: list[int]) -> None:
    """``case.notify`` for each case in one transaction (``pipeline.cases.notify_group``);
    after the commit, every send and every case handed back in one round trip."""
    with session_scope() as session:
        group = notify_cases(session, case_ids, utcnow(), get_settings())
    sends = _send_group_messages(group.results.values(), get_settings().send_group_size)
    handed_back = [notify.message(case_id) for case_id in group.retry]
    enqueue_messages(broker, [*sends, *handed_back])
    outcomes = Counter(result.outcome.value for result in group.results.values())
    log.info(
        "case.group_notified cases=%s outcomes=%s handed_back=%s",
        len(group.results),
        dict(outcomes),
        len(group.retry),
    )


def enqueue_notify(case_ids: Iterable[int]) -> int:
    """Hand claimed cases on as ``case.notify_group`` messages of ``notify_group_size``, in
    id order (neighbouring groups then lock disjoint ranges); returns how many cases."""
    ids = sorted(case_ids)
    size = get_settings().notify_group_size
    groups = [(ids[start : start + size],) for start in range(0, len(ids), size)]
    enqueue_many(notify_group, groups)
    return len(ids)


def _send_group_messages(results: Iterable[NotifyResult], size: int) -> list[dramatiq.Message[Any]]:
    """One ``channel.send_<kind>_group`` message per ``size`` attempts of a channel."""
    by_channel: dict[str, list[int]] = defaultdict(list)
    for result in results:
        if result.outcome is Outcome.SEND and result.attempt_id is not None and result.channel:
            by_channel[result.channel].append(result.attempt_id)
    return [
        SEND_GROUP_ACTORS[channel].message(ids[start : start + size])
        for channel, ids in by_channel.items()
        for start in range(0, len(ids), size)
    ]


def _send_message(result: NotifyResult) -> dramatiq.Message[Any] | None:
    if result.outcome is Outcome.SEND and result.attempt_id is not None and result.channel:
        return SEND_ACTORS[result.channel].message(result.attempt_id)
    return None
