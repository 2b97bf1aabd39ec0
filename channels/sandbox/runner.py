"""Runs the sandbox on a free port in a background thread (tests, the in-process demo)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from channels.sandbox.config import SandboxConfig
from channels.sandbox.server import create_sandbox_app
from channels.sandbox.signing import EventSigner
from channels.sandbox.state import SandboxState


class SandboxThread:
    """``with SandboxThread(config) as sandbox: ...`` — ``sandbox.url`` is its base URL,
    ``sandbox.state`` its memory; ``wait_idle()`` waits for callbacks and users to finish."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        signer: EventSigner | None = None,
    ) -> None:
        self.app = create_sandbox_app(config or SandboxConfig.from_settings(), signer)
        self.state: SandboxState = self.app.state.sandbox
        # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
        # listener says so, and without it every answer waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        uv_config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=self._run, name="recall-sandbox", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 10.0) -> SandboxThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def configure(self, **changes: Any) -> SandboxConfig:
        return self.state.reconfigure(changes)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Blocks until no callback or simulated user action is left to run."""
        deadline = time.monotonic() + timeout
        while self.state.pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox still busy: {self.state.pending} pending")
            time.sleep(0.02)

    @property
    def public_key(self) -> str:
        return self.state.signer.public_key

    def settings_env(self) -> dict[str, str]:
        """The RECALL_* variables that point recall's clients and webhook check at this
        sandbox (set them, then ``get_settings.cache_clear()``)."""
        return {
            "RECALL_TWILIO_API_BASE": self.url,
            "RECALL_SENDGRID_API_BASE": self.url,
            "RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY": self.public_key,
            "RECALL_TWILIO_AUTH_TOKEN": self.state.config.twilio_auth_token,
        }

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_sandbox(config: SandboxConfig | None = None, **overrides: Any) -> SandboxThread:
    """A running sandbox on a free port: ``config`` (default: from settings) with
    ``overrides`` applied. Stop it with ``.stop()`` (or use SandboxThread as a context)."""
    base = config or SandboxConfig.from_settings()
    return SandboxThread(base.updated(overrides) if overrides else base).start()
