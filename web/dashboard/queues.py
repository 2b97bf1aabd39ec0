"""Queues page: per-queue figures, workers, throughput, dead letters with requeue/delete."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from actors import queues
from actors.dead_letters import (
    DeadLetter,
    delete_dead_letter,
    list_dead_letters,
    requeue_dead_letter,
)
from actors.queues import QueueStats, WorkerInfo
from pipeline.clock import utcnow
from pipeline.privacy import audit
from web.auth import page_user, require_csrf, require_page_role
from web.dashboard.deps import broker_redis, db_session, namespace
from web.dashboard.pages import render
from web.deps import settings_of

router = APIRouter(prefix="/dashboard/queues", include_in_schema=False)
WINDOW_MINUTES = 15
OPERATOR = require_page_role("operator")


@lru_cache(maxsize=8)
def broker_for(url: str, ns: str) -> RedisBroker:
    """A RedisBroker over the app's broker settings, for actors.dead_letters (which takes
    one); requests share it, and it connects only when used."""
    return RedisBroker(url=url, namespace=ns)


def _broker(request: Request) -> dramatiq.Broker:
    """The app's broker: Redis from its settings, else this process's in-process one."""
    url = settings_of(request).broker_url
    if url:
        return broker_for(url, namespace(request))
    broker = dramatiq.get_broker()
    if not isinstance(broker, StubBroker):
        raise HTTPException(404, "no broker to read")
    return broker


def stub_queue_stats(broker: StubBroker) -> list[QueueStats]:
    """The in-process broker's figures (``recall demo``): its queues live in this process.
    Throughput is not counted there (the stats middleware writes to Redis)."""
    stats = []
    for name, queue in sorted(broker.queues.items()):
        if name.endswith(".DQ"):
            continue
        delayed = broker.queues.get(f"{name}.DQ")
        ready = queue.qsize()
        stats.append(
            QueueStats(
                name=name,
                ready=ready,
                delayed=delayed.unfinished_tasks if delayed is not None else 0,
                # Put and not yet acknowledged, minus those still waiting: being worked on.
                in_progress=max(0, queue.unfinished_tasks - ready),
                dead=len(broker.dead_letters_by_queue.get(name, [])),
                processed=0,
                failed=0,
                window_minutes=WINDOW_MINUTES,
            )
        )
    return stats


@dataclass
class QueueView:
    queues: list[QueueStats]
    workers: list[WorkerInfo]
    dead: list[DeadLetter]
    chart: dict[str, Any]
    window: int


def queue_view(request: Request) -> QueueView | None:
    """Everything the queues page shows; None when there is no broker to read."""
    client, ns = broker_redis(request), namespace(request)
    if client is None:
        return _stub_view(request)
    now = utcnow()
    stats = queues.queue_stats(client, ns, now=now, window_minutes=WINDOW_MINUTES)
    names = [s.name for s in stats]
    series = queues.per_minute_series(client, ns, names, now=now, minutes=WINDOW_MINUTES)
    chart = {
        "x": [t for t, _, _ in series],
        "series": [
            {"label": "processed/min", "color": "#1f6feb", "data": [p for _, p, _ in series]},
            {"label": "failed/min", "color": "#c62828", "data": [f for _, _, f in series]},
        ],
    }
    broker = _broker(request)
    dead = [d for s in stats if s.dead for d in list_dead_letters(s.name, broker=broker)]
    return QueueView(stats, queues.workers(client, ns, now=now), dead, chart, WINDOW_MINUTES)


def _stub_view(request: Request) -> QueueView | None:
    broker = dramatiq.get_broker()
    if not isinstance(broker, StubBroker):
        return None
    stats = stub_queue_stats(broker)
    dead = [d for s in stats if s.dead for d in list_dead_letters(s.name, broker=broker)]
    chart: dict[str, Any] = {"x": [], "series": []}
    return QueueView(stats, [], dead, chart, WINDOW_MINUTES)


def _context(request: Request) -> dict[str, Any]:
    view = queue_view(request)
    return {"configured": view is not None, **(vars(view) if view else {})}


@router.get("", response_class=HTMLResponse)
def queues_page(request: Request, user: str = Depends(page_user)) -> Response:
    return render(request, user, "queues.html", **_context(request))


@router.get("/live", response_class=HTMLResponse)
def queues_live(request: Request, user: str = Depends(page_user)) -> Response:
    return render(request, user, "_queues_live.html", **_context(request))


@router.post("/{queue}/dead/{message_id}/{action}", dependencies=[Depends(require_csrf)])
def dead_letter_action(
    request: Request,
    queue: str,
    message_id: str,
    action: str,
    user: str = Depends(OPERATOR),
    session: Session = Depends(db_session),
) -> Response:
    """Requeue or delete one dead letter; either way the audit log says who did it."""
    broker = _broker(request)
    if action == "requeue":
        done = requeue_dead_letter(queue, message_id, broker=broker)
    elif action == "delete":
        done = delete_dead_letter(queue, message_id, broker=broker)
    else:
        raise HTTPException(404, f"unknown action {action!r}")
    if done:
        audit.record(
            session,
            actor=f"user:{user}",
            action=f"dead_letter.{action}",
            entity=f"message:{message_id}",
            data={"queue": queue},
        )
        session.commit()
    return RedirectResponse("/dashboard/queues", 303)
