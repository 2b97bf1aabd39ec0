"""Helpers shared by the channel tests (importable: pytest puts this directory on sys.path)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

from channels.sandbox.runner import SandboxThread

AUTH_TOKEN = "test-auth-token-channels"
ACCOUNT_SID = "AC" + "c" * 32


@dataclass
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


class Receiver:
    """A tiny HTTP server standing where the recall web app would: it records every request
    the sandbox makes and answers from ``responses`` (path → (content type, body))."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.responses: dict[str, tuple[str, str]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                kind, text = receiver.responses.get(self.path.split("?")[0], ("text/plain", "ok"))
                data = text.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.split("?")[0] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sandbox_requests(sandbox: SandboxThread, provider: str) -> list[dict[str, Any]]:
    """What the provider API received, fetched over HTTP as any contract test would."""
    response = httpx.get(f"{sandbox.url}/_sandbox/requests", params={"provider": provider})
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]
