"""pipeline.cases.delivery_group: attempts sent in turn, each "sending" and committed before
its call, one transaction per send, nothing sent twice when a group is redelivered."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from channels.base import ChannelError, FailureKind, SendFailure
from pipeline.cases.delivery import SendOutcome
from pipeline.cases.delivery_group import GroupSender
from pipeline.cases.notify import notify_case
from pipeline.channel_port import Outbound, SendResult
from pipeline.models import Attempt
from pipeline.settings import Settings
from tests.pipeline_factories import NOW, RecordingChannel, make_campaign, make_case

SETTINGS = Settings(send_inline_tries=3, send_inline_wait_seconds=0, max_send_tries=4)
TRANSIENT = SendFailure(FailureKind.TRANSIENT, "429", "too many requests")


def claim(engine: Engine, cases: int) -> list[int]:
    with Session(engine) as session:
        campaign = make_campaign(session)
        case_ids = [make_case(session, campaign, n).id for n in range(cases)]
        ids = [notify_case(session, case_id, NOW, SETTINGS).attempt_id for case_id in case_ids]
        session.commit()
    assert None not in ids
    return [attempt_id for attempt_id in ids if attempt_id is not None]


def statuses(engine: Engine) -> dict[int, str]:
    with Session(engine) as session:
        rows = session.execute(select(Attempt.id, Attempt.status).order_by(Attempt.id))
        return {row.id: row.status for row in rows}


@dataclass
class WatchingChannel(RecordingChannel):
    """Reads the attempt's committed status, from another connection, as the call starts."""

    engine: Engine | None = None
    seen: list[str] = field(default_factory=list)

    def send(self, message: Outbound) -> SendResult:
        assert self.engine is not None
        with Session(self.engine) as session:
            query = select(Attempt.status).where(Attempt.case_id == message.case_id)
            self.seen.append(session.scalars(query).one())
        return super().send(message)


def sender(engine: Engine, channel: RecordingChannel) -> GroupSender:
    return GroupSender(lambda kind: channel, SETTINGS, engine=engine, clock=lambda: NOW)


def test_each_call_follows_a_committed_take_with_one_transaction_per_send(
    engine: Engine,
) -> None:
    ids = claim(engine, 4)
    channel = WatchingChannel(engine=engine)
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(engine, "commit", count)
    group = sender(engine, channel)
    for attempt_id in ids:
        group.send(attempt_id)
    group.finish()
    event.remove(engine, "commit", count)
    assert channel.seen == ["sending"] * 4  # committed before the call, seen from outside
    assert len(commits) == 5  # n + 1 instead of 2n
    assert group.outcomes == {attempt_id: SendOutcome.SENT for attempt_id in ids}
    assert group.sent_units == [1.0] * 4
    assert set(statuses(engine).values()) == {"sent"}


def test_a_group_redelivered_after_a_worker_died_mid_call_sends_nothing_twice(
    engine: Engine,
) -> None:
    ids = claim(engine, 3)
    channel = RecordingChannel()
    dying = sender(engine, channel)
    dying.send(ids[0])
    dying.send(ids[1])  # then the worker dies in this call: no finish
    assert list(statuses(engine).values()) == ["sent", "sending", "claimed"]
    again = sender(engine, channel)
    for attempt_id in ids:
        again.send(attempt_id)
    again.finish()
    assert again.outcomes == {
        ids[0]: SendOutcome.NOT_OURS,  # sent already
        ids[1]: SendOutcome.NOT_OURS,  # in flight: the stale-sending rule decides
        ids[2]: SendOutcome.SENT,
    }
    assert len(channel.sent) == 3 == len(set(channel.sent))


def test_a_transient_failure_is_handed_back_and_the_others_are_sent(engine: Engine) -> None:
    ids = claim(engine, 3)
    channel = RecordingChannel(script=[ChannelError(TRANSIENT)] * SETTINGS.send_inline_tries)
    group = sender(engine, channel)
    for attempt_id in ids:
        group.send(attempt_id)
    group.finish()
    assert group.transient == [ids[0]]
    assert statuses(engine) == {ids[0]: "claimed", ids[1]: "sent", ids[2]: "sent"}


def test_an_unknown_adapter_error_leaves_one_attempt_unconfirmed(engine: Engine) -> None:
    ids = claim(engine, 2)
    channel = RecordingChannel(script=[RuntimeError("connection reset mid-call")])
    group = sender(engine, channel)
    for attempt_id in ids:
        group.send(attempt_id)
    group.finish()
    assert group.outcomes == {ids[0]: SendOutcome.UNCONFIRMED, ids[1]: SendOutcome.SENT}
    assert statuses(engine) == {ids[0]: "unconfirmed", ids[1]: "sent"}
