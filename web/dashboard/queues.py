"""Queues page: per-queue figures, workers, throughput, dead letters with requeue/delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pipeline import audit, queues
from pipeline.clock import utcnow
from pipeline.queues import DeadLetter, QueueStats, WorkerInfo
from web.auth import page_user, require_csrf
from web.dashboard.deps import broker_redis, db_session, namespace
from web.dashboard.pages import render

router = APIRouter(prefix="/dashboard/queues", include_in_schema=False)
WINDOW_MINUTES = 15


def _client(request: Request) -> redis.Redis:
    client = broker_redis(request)
    if client is None:
        raise HTTPException(404, "no Redis broker configured (RECALL_BROKER_URL is unset)")
    return client


@dataclass
class QueueView:
    queues: list[QueueStats]
    workers: list[WorkerInfo]
    dead: list[DeadLetter]
    chart: dict[str, Any]
    window: int


def queue_view(client: redis.Redis | None, ns: str) -> QueueView | None:
    """Everything the queues page shows; None with the in-process broker."""
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
    dead = [d for s in stats if s.dead for d in queues.dead_letters(client, ns, s.name)]
    return QueueView(stats, queues.workers(client, ns, now=now), dead, chart, WINDOW_MINUTES)


def _context(request: Request) -> dict[str, Any]:
    view = queue_view(broker_redis(request), namespace(request))
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
    client, ns = _client(request), namespace(request)
    if action == "requeue":
        done = queues.requeue_dead_letter(client, ns, queue, message_id)
    elif action == "delete":
        done = queues.delete_dead_letter(client, ns, queue, message_id)
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
