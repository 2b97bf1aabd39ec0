"""Worker middleware that keeps the figures Dramatiq does not: messages processed and failed
per queue per minute, and which broker ids are worker processes (for the dashboard's queue
and worker views, read back by ``actors.queues``)."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from actors import queues
from pipeline.clock import utcnow

log = logging.getLogger(__name__)


class QueueStatsRecorder(Middleware):
    """Counts outcomes in Redis. A counting failure is logged and never fails a message."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if isinstance(broker, RedisBroker):
            info = {
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "queues": sorted(broker.get_declared_queues()),
                "started_at": utcnow().isoformat(),
            }
            queues.register_worker(broker.client, broker.namespace, broker.broker_id, info)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if isinstance(broker, RedisBroker):
            queues.unregister_worker(broker.client, broker.namespace, broker.broker_id)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if not isinstance(broker, RedisBroker):
            return
        try:
            queues.record_outcome(
                broker.client,
                broker.namespace,
                message.queue_name,
                failed=exception is not None,
                now=utcnow(),
            )
        except Exception:  # statistics must never cost a message
            log.warning("queue_stats.record_failed", exc_info=True)
