"""Everything in one process, for ``recall run`` and ``recall demo``: the web app and the
provider sandbox in background threads, Dramatiq worker threads on the in-process broker, and the
embedded scheduler. The same code paths as a deployment, minus Redis and PostgreSQL.

Settings are adjusted in place before anything reads them (the database, the public URL the
sandbox calls back, the provider base URLs pointing at the sandbox), which is why this module
must run before any actor is imported in a process that has no broker configured.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.db import session_factory
from pipeline.privacy.masking import install_masking
from pipeline.settings import Settings
from schedules.scheduler import RecallScheduler

log = logging.getLogger(__name__)


# Attributes every LogRecord has; anything else came in through ``extra=`` and is shown.
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class FieldsFormatter(logging.Formatter):
    """``time level event key=value ...``: the structured fields of a record on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        return " ".join([line, *(f"{key}={value}" for key, value in fields.items())])


def log_to_file(path: str) -> logging.Handler:
    """Send every log record to ``path`` instead of the terminal (the live view owns it)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    install_masking(root)
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    return handler


class ServerThread:
    """Runs an ASGI app with uvicorn on a socket bound now (port 0 = any free port)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        # IPPROTO_TCP named explicitly: asyncio only sets TCP_NODELAY on sockets that say
        # so, and without it every response waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: FastAPI, timeout: float = 15.0) -> ServerThread:
        # log_config=None: uvicorn's records go wherever this process sends its logs.
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", access_log=False, log_config=None
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[self._socket]), name="recall-web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the web app did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()


@dataclass
class EmbeddedStack:
    """The running parts; ``close()`` stops them in the reverse order of starting."""

    web_url: str
    sandbox_url: str
    scheduler: RecallScheduler
    broker: Any
    sandbox: SandboxThread | None
    _exits: ExitStack = field(repr=False, default_factory=ExitStack)

    def queued_messages(self) -> int:
        """Messages waiting in, or being handled from, the in-process broker."""
        queues = getattr(self.broker, "queues", {})
        return sum(queue.unfinished_tasks for queue in queues.values())

    def busy(self) -> bool:
        """Work still in motion: messages to handle, or provider callbacks and simulated
        users' answers still to come from the sandbox."""
        pending = self.sandbox.state.pending if self.sandbox is not None else 0
        return self.queued_messages() > 0 or pending > 0

    def close(self) -> None:
        self._exits.close()


def _quiesce(sandbox: SandboxThread) -> None:
    """Let the simulated users fall silent and in-flight callbacks land before stopping."""
    sandbox.configure(users=False)
    try:
        sandbox.wait_idle(timeout=5)
    except TimeoutError:
        log.warning("demo.sandbox_busy_at_stop", extra={"pending": sandbox.state.pending})


SANDBOXED = frozenset({"twilio", "sendgrid"})


def start_embedded_stack(
    settings: Settings,
    *,
    worker_threads: int = 8,
    sandbox_overrides: dict[str, Any] | None = None,
    port: int = 0,
    sandbox_for: frozenset[str] = SANDBOXED,
) -> EmbeddedStack:
    """Start web, workers and scheduler against ``settings.database_url``, and the sandbox
    in place of each provider named in ``sandbox_for`` (none: real providers only). The web
    app listens on ``port`` (0: any free one); with a sandbox, providers call it back there."""
    exits = ExitStack()
    try:
        web = ServerThread(port=port)
        exits.callback(web.stop)
        sandbox = _start_sandbox(settings, web, exits, sandbox_for, sandbox_overrides or {})
        # Imported only now: the app and the actors read the settings adjusted above.
        from actors.broker import broker
        from actors.workers import embedded_worker
        from schedules.runner import start_embedded_scheduler
        from web.app import create_app

        web.start(create_app(settings=settings))
        exits.enter_context(embedded_worker(threads=worker_threads))
        scheduler = start_embedded_scheduler(session_factory())
        exits.callback(scheduler.shutdown)
    except BaseException:
        exits.close()
        raise
    sandbox_url = sandbox.url if sandbox is not None else ""
    log.info("demo.stack_started", extra={"web": web.url, "sandbox": sandbox_url})
    return EmbeddedStack(web.url, sandbox_url, scheduler, broker, sandbox, exits)


def _start_sandbox(
    settings: Settings,
    web: ServerThread,
    exits: ExitStack,
    providers: frozenset[str],
    overrides: dict[str, Any],
) -> SandboxThread | None:
    if not providers:
        return None
    settings.public_url = web.url  # the sandbox's simulated users call back here
    config = SandboxConfig.from_settings(settings, **overrides)
    sandbox = exits.enter_context(SandboxThread(config))
    exits.callback(_quiesce, sandbox)
    if "twilio" in providers:
        settings.twilio_api_base = sandbox.url
    if "sendgrid" in providers:
        settings.sendgrid_api_base = sandbox.url
        settings.sendgrid_webhook_public_key = sandbox.public_key
    return sandbox
