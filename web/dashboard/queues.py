"""Queues page: per-queue figures, workers, throughput, dead letters with requeue/delete."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from actors.dead_letters import (
    DeadLetter,
    delete_dead_letter,
    list_dead_letters,
    requeue_dead_letter,
)
from pipeline import audit, queues
from pipeline.clock import utcnow
from pipeline.queues import QueueStats, WorkerInfo
from web.auth import page_user, require_csrf
from web.dashboard.deps import broker_redis, db_session, namespace
from web.dashboard.pages import render
from web.deps import settings_of

router = APIRouter(prefix="/dashboard/queues", include_in_schema=False)
WINDOW_MINUTES = 15


@lru_cache(maxsize=8)
def broker_for(url: str, ns: str) -> RedisBroker:
    """A RedisBroker over the app's broker settings, for actors.dead_letters (which takes
    one); requests share it, and it connects only when used."""
    return RedisBroker(url=url, namespace=ns)


def _broker(request: Request) -> RedisBroker:
    url = settings_of(request).broker_url
    if not url:
        raise HTTPException(404, "no Redis broker configured (RECALL_BROKER_URL is unset)")
    return broker_for(url, namespace(request))


@dataclass
class QueueView:
    queues: list[QueueStats]
    workers: list[WorkerInfo]
    dead: list[DeadLetter]
    chart: dict[str, Any]
    window: int


def queue_view(request: Request) -> QueueView | None:
    """Everything the queues page shows; None with the in-process broker."""
    client, ns = broker_redis(request), namespace(request)
    if client is None:
        return None
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
    user: str = Depends(page_user),
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
