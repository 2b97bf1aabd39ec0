"""Small pieces of ASGI plumbing the middlewares share."""

from __future__ import annotations

from starlette.types import Message, Send


class StatusCapture:
    """A ``send`` that passes every message on and remembers the response's status: 500
    until a response starts, so a request that raised is counted as the error it became."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self.send(message)
