"""The sandbox app: Twilio's and SendGrid's API subset plus ``/_sandbox/*`` for inspection.

``GET /_sandbox/requests`` — every provider API request received (method, path, form/json).
``GET /_sandbox/messages?to=...`` — what users received (and, ``direction=inbound``, sent).
``GET /_sandbox/callbacks`` — every callback, user reply and click posted, with the answer.
``GET /_sandbox/pending`` — background work still to run; ``{"pending": 0}`` means idle.
``GET|POST /_sandbox/config`` — read or change shares, delays and faults while running.
``GET /_sandbox/public-key`` — the SendGrid event webhook verification key.
``POST /_sandbox/reset`` — forget everything logged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from channels.sandbox import sendgrid_api, twilio_api
from channels.sandbox.config import SandboxConfig
from channels.sandbox.signing import EventSigner
from channels.sandbox.state import SandboxState


def create_sandbox_app(config: SandboxConfig, signer: EventSigner | None = None) -> FastAPI:
    """The sandbox as an ASGI app; ``app.state.sandbox`` is its SandboxState."""
    state = SandboxState(config, signer)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.close()

    app = FastAPI(title="recall provider sandbox", lifespan=lifespan, docs_url="/_sandbox/docs")
    app.state.sandbox = state
    app.include_router(twilio_api.make_router(state))
    app.include_router(sendgrid_api.make_router(state))
    _add_inspection_routes(app, state)
    return app


def _add_inspection_routes(app: FastAPI, state: SandboxState) -> None:
    @app.get("/_sandbox/requests")
    async def requests(provider: str | None = None) -> list[dict[str, Any]]:
        return [r for r in state.snapshot(state.requests) if provider in (None, r.get("provider"))]

    @app.get("/_sandbox/messages")
    async def messages(
        to: str | None = None,
        sender: str | None = Query(default=None, alias="from"),
        channel: str | None = None,
    ) -> list[dict[str, Any]]:
        return [
            m
            for m in state.snapshot(state.messages)
            if to in (None, m.get("to"))
            and sender in (None, m.get("from"))
            and channel in (None, m.get("channel"))
        ]

    @app.get("/_sandbox/callbacks")
    async def callbacks(kind: str | None = None) -> list[dict[str, Any]]:
        return [c for c in state.snapshot(state.callbacks) if kind in (None, c.get("kind"))]

    @app.get("/_sandbox/pending")
    async def pending() -> dict[str, int]:
        return {"pending": state.pending}

    @app.get("/_sandbox/config")
    async def get_config() -> dict[str, Any]:
        return state.config.model_dump()

    @app.post("/_sandbox/config", response_model=None)
    async def set_config(changes: dict[str, Any]) -> dict[str, Any] | JSONResponse:
        try:
            return state.reconfigure(changes).model_dump()
        except ValidationError as error:
            return JSONResponse({"error": str(error)}, status_code=422)

    @app.get("/_sandbox/public-key")
    async def public_key() -> dict[str, str]:
        return {"public_key": state.signer.public_key}

    @app.post("/_sandbox/reset")
    async def reset() -> dict[str, bool]:
        state.reset()
        return {"reset": True}
