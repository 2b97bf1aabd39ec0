"""Group commit for webhook events: one writer per web process, one INSERT per batch.

A webhook request hands its events to the process's ``EventIngestor`` and awaits them. One
background task takes everything that has arrived, stores it with ONE multi-row ``INSERT ...
ON CONFLICT DO NOTHING RETURNING`` (``pipeline.inbound.event_store.store_events``), enqueues
the new rows with ONE Redis pipeline, and only then answers every request of the batch.
There is no timer: a batch is whatever arrived while the previous one was being written,
so a lone request is written at once and, under load, each database round trip carries
many requests instead of each request queueing for a connection and a thread of its own.

What a request is told, and when:
- its events stored (new or already there): after the commit and the enqueue attempt. A
  broker that fails after the commit fails nobody — the rows stay unhandled and the
  scheduler hands them on (``pipeline.cases.sweep.claim_unhandled_events``);
- the database unreachable: the events go to the durable buffer (``actors.inbound_buffer``, a
  Redis stream the scheduler drains once the database is back) and the request is answered as
  stored; only if Redis refuses them too is it the batch's error (a 503). A value
  one request brought that the database refuses is isolated by storing that batch's
  requests one by one, so only that request sees it;
- no answer within ``WAIT_SECONDS``, or the app shutting down: ``IngestUnavailable`` (503).
  What was handed over may still be stored; the provider's retry is then a duplicate. A
  database or broker that stops answering holds the writer, and so every later batch, until
  it answers or fails; each waiting request still gets its 503 in time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Engine
from starlette.datastructures import State
from starlette.requests import Request

from actors.inbound_buffer import EventBuffer, database_unavailable
from actors.response import enqueue_processing
from pipeline.errors import RecallError
from pipeline.inbound.event_store import NewEvent, store_events
from web.deps import ingest_engine

log = logging.getLogger(__name__)

# Twilio gives up on a webhook after 15 s; a 503 before that makes it retry sooner.
WAIT_SECONDS = 10.0
# Rows per batch: beyond this a batch would be split into several statements anyway.
MAX_BATCH_EVENTS = 1000
# How long a shutdown waits for pending batches before failing what is left.
DRAIN_SECONDS = 5.0


class IngestUnavailable(RecallError, RuntimeError):
    """The events could not be stored in time, or the app is stopping (a 503)."""


@dataclass
class _Submission:
    events: list[NewEvent]
    answer: asyncio.Future[list[int]] = field(repr=False)


# Per submission of a batch: the ids it newly stored for processing, or why it failed.
SubmissionResult = list[int] | Exception


def write_batch(
    engine: Engine, submissions: list[list[NewEvent]], buffer: EventBuffer | None = None
) -> list[SubmissionResult]:
    """Store the events of every submission in one statement, then enqueue the new ones.

    Runs on the writer thread. Returns one outcome per submission, in order.
    """
    try:
        new_rows = store_events(engine, [event for events in submissions for event in events])
    except Exception as error:  # returned, so the request raises it in its own context
        if database_unavailable(error):  # the same for everyone: keep them for later
            return _buffered(buffer, submissions, error)
        if len(submissions) == 1:
            return [error]
        # Most likely a value the database refused (a NUL byte, an over-long string): only
        # the request that brought it should fail, so store the submissions one by one.
        return [write_batch(engine, [events], buffer)[0] for events in submissions]
    # Each new row belongs to the first submission that carried its id.
    claimed = [
        [new_rows.pop(e.provider_event_id) for e in events if e.provider_event_id in new_rows]
        for events in submissions
    ]
    _enqueue_committed([event_id for ids in claimed for event_id in ids])
    outcomes: list[SubmissionResult] = [*claimed]
    return outcomes


def _buffered(
    buffer: EventBuffer | None, submissions: list[list[NewEvent]], error: Exception
) -> list[SubmissionResult]:
    """The database is away: the events go to the durable buffer (``actors.inbound_buffer``) and the
    requests are answered as stored; without a buffer, or if Redis refuses too, a 503."""
    if buffer is None:
        return [error] * len(submissions)
    try:
        buffer.append([event for events in submissions for event in events])
    except Exception:
        log.error("inbound_buffer.append_failed", exc_info=True)
        return [error] * len(submissions)
    log.warning("inbound_event.buffered", extra={"requests": len(submissions)})
    return [[] for _ in submissions]


def _enqueue_committed(event_ids: list[int]) -> None:
    try:
        enqueue_processing(event_ids)
    except Exception:  # the rows are committed: whatever the broker did, the sweep repairs
        log.error("inbound_event.enqueue_failed", extra={"count": len(event_ids)}, exc_info=True)


class EventIngestor:
    """Collects the events of concurrent requests and writes them in batches.

    Lives on one event loop (the web app's); the blocking store and enqueue run on one
    thread of its own, so at most one batch is in flight and one connection is used.
    """

    def __init__(
        self,
        engine: Callable[[], Engine],
        *,
        buffer: EventBuffer | None = None,
        wait_seconds: float = WAIT_SECONDS,
        max_batch_events: int = MAX_BATCH_EVENTS,
    ) -> None:
        self._engine = engine
        self._buffer = buffer
        self._wait_seconds = wait_seconds
        self._max_batch_events = max_batch_events
        self._pending: deque[_Submission] = deque()
        self._writing: list[_Submission] = []
        self._arrived = asyncio.Event()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recall-ingest")

    def serves(self, loop: asyncio.AbstractEventLoop) -> bool:
        """False once bound to another loop (an app served by a new loop needs a new one)."""
        return self._loop is None or self._loop is loop

    async def submit(self, events: list[NewEvent]) -> list[int]:
        """Store ``events``; returns the ids of the rows that are new and were handed on."""
        if self._closing:
            raise IngestUnavailable("the web process is stopping")
        loop = asyncio.get_running_loop()
        self._start(loop)
        answer: asyncio.Future[list[int]] = loop.create_future()
        self._pending.append(_Submission(events, answer))
        self._arrived.set()
        # Given up on (timed out or cancelled), a request's events still stay in the batch.
        timer = loop.call_later(self._wait_seconds, _expire, answer)
        try:
            return await answer
        finally:
            timer.cancel()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is None:
            self._loop = loop
            self._task = loop.create_task(self._run(), name="recall-ingest")

    async def _run(self) -> None:
        while True:
            while not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            await self._write(self._take_batch())

    def _take_batch(self) -> list[_Submission]:
        batch = [self._pending.popleft()]
        size = len(batch[0].events)
        while self._pending and size + len(self._pending[0].events) <= self._max_batch_events:
            batch.append(self._pending.popleft())
            size += len(batch[-1].events)
        return batch

    async def _write(self, batch: list[_Submission]) -> None:
        loop = asyncio.get_running_loop()
        events = [submission.events for submission in batch]
        self._writing = batch  # for close(), should the drain be cut short
        try:
            outcomes = await loop.run_in_executor(
                self._thread, write_batch, self._engine(), events, self._buffer
            )
        except Exception as error:  # the writer itself failed, not the database: tell the batch
            outcomes = [error] * len(batch)
        self._writing = []
        for submission, outcome in zip(batch, outcomes, strict=True):
            if submission.answer.done():
                continue
            if isinstance(outcome, Exception):
                submission.answer.set_exception(outcome)
            else:
                submission.answer.set_result(outcome)

    async def close(self, timeout: float = DRAIN_SECONDS) -> None:
        """Refuse new events, write what is pending (for up to ``timeout``), fail the rest."""
        self._closing = True
        self._arrived.set()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                log.error("inbound_event.drain_timeout", extra={"pending": len(self._pending)})
                self._task.cancel()
        for submission in [*self._writing, *self._pending]:
            if not submission.answer.done():
                submission.answer.set_exception(IngestUnavailable("the web process stopped"))
        self._pending.clear()
        self._thread.shutdown(wait=False)


def _expire(answer: asyncio.Future[list[int]]) -> None:
    if not answer.done():
        log.error("inbound_event.store_timeout")
        answer.set_exception(IngestUnavailable("storing the events timed out"))


def ingestor_of(request: Request) -> EventIngestor:
    """The app's ingestor, started on first use in the loop that serves the app."""
    app = request.app
    ingestor: EventIngestor | None = getattr(app.state, "ingestor", None)
    if ingestor is None or not ingestor.serves(asyncio.get_running_loop()):
        settings = app.state.settings
        buffer = None
        if settings.broker_url:  # the embedded mode has no Redis: a 503 is all it can say
            buffer = EventBuffer.for_broker(settings.broker_url, settings.broker_namespace)
        ingestor = EventIngestor(lambda: ingest_engine(app), buffer=buffer)
        app.state.ingestor = ingestor
    return ingestor


async def close_ingestor(state: State) -> None:
    """Lifespan shutdown: drain (or fail) what requests are still waiting for."""
    ingestor: EventIngestor | None = getattr(state, "ingestor", None)
    if ingestor is not None:
        await ingestor.close()
    state.ingestor = None
