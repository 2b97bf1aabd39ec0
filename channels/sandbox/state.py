"""The sandbox's memory: what it received, what users got, what it posted back, and the
background work (callbacks, users answering) still to run."""

from __future__ import annotations

import asyncio
import random
import secrets
import string
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Coroutine, Mapping
from typing import Any

import httpx

from channels.sandbox.config import SandboxConfig
from channels.sandbox.overrides import split as split_overrides
from channels.sandbox.signing import EventSigner, twilio_signature
from pipeline.clock import utcnow

_HEX = "0123456789abcdef"
_ID_CHARS = string.ascii_letters + string.digits


def twilio_sid(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_HEX) for _ in range(32))


def sendgrid_message_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


class SandboxState:
    def __init__(self, config: SandboxConfig, signer: EventSigner | None = None) -> None:
        self.config = config
        self.signer = signer or EventSigner()
        self.rng = random.Random(config.seed)
        # Bounded, so a sandbox left running under load keeps a steady footprint.
        size = config.max_log_entries
        self.requests: deque[dict[str, Any]] = deque(maxlen=size)
        self.messages: deque[dict[str, Any]] = deque(maxlen=size)
        self.callbacks: deque[dict[str, Any]] = deque(maxlen=size)
        self._by_sid: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.replies_sent: Counter[str] = Counter()
        self.script_lines: Counter[str] = Counter()
        # Numbers whose user replied STOP: Twilio refuses further SMS to them (21610).
        self.stopped: set[str] = set()
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None

    # -- configuration ---------------------------------------------------------------
    def reconfigure(self, changes: Mapping[str, Any]) -> SandboxConfig:
        self.config = self.config.updated(dict(changes))
        if "seed" in changes:
            self.rng = random.Random(self.config.seed)
        self._semaphore = None
        return self.config

    # -- logs --------------------------------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append({"at": utcnow().isoformat(), **entry})

    def log_message(self, entry: dict[str, Any]) -> None:
        message = {"at": utcnow().isoformat(), **entry}
        with self._lock:
            self.messages.append(message)
            if "sid" in entry and "direction" not in entry:
                self._by_sid[entry["sid"]] = message
                if len(self._by_sid) > self.config.max_log_entries:
                    self._by_sid.popitem(last=False)

    def set_status(self, sid: str, status: str) -> None:
        """The delivery status of a message or call the sandbox accepted."""
        with self._lock:
            if sid in self._by_sid:
                self._by_sid[sid]["status"] = status

    def snapshot(self, log: deque[dict[str, Any]]) -> list[dict[str, Any]]:
        """A copy of one log, safe to iterate while the sandbox keeps appending."""
        with self._lock:
            return list(log)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.messages.clear()
            self.callbacks.clear()
            self.replies_sent.clear()
            self.script_lines.clear()
            self.stopped.clear()
            self._by_sid.clear()

    # -- background work ---------------------------------------------------------------
    @property
    def pending(self) -> int:
        # list() first: the set changes on the sandbox thread while tests poll from theirs.
        return sum(1 for task in list(self._tasks) if not task.done())

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def pause(self, delay: tuple[float, float]) -> None:
        if self.config.immediate:
            return
        await asyncio.sleep(self.rng.uniform(*delay))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30.0)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.config.max_concurrent_callbacks)
        return self._http

    async def post(
        self,
        kind: str,
        url: str,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        **body: Any,
    ) -> httpx.Response | None:
        """Calls the app under test, logging the outcome; None if it could not be reached."""
        response, _ = await self._request(kind, url, method, headers, body)
        return response

    async def _request(
        self,
        kind: str,
        url: str,
        method: str,
        headers: Mapping[str, str] | None,
        body: dict[str, Any],
    ) -> tuple[httpx.Response | None, str | None]:
        """The response, or None and ``ct`` (could not connect) / ``rt`` (failed after)."""
        client = self._client()
        assert self._semaphore is not None
        entry: dict[str, Any] = {"kind": kind, "method": method, "url": url}
        entry["at"] = utcnow().isoformat()
        failed: str | None = None
        try:
            async with self._semaphore:
                response = await client.request(method, url, headers=dict(headers or {}), **body)
            entry["status"] = response.status_code
        except httpx.HTTPError as error:
            entry["error"] = f"{type(error).__name__}: {error}"
            failed = "ct" if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout) else "rt"
            response = None
        with self._lock:
            self.callbacks.append(entry)
        return response, failed

    async def post_twilio(
        self, kind: str, url: str, params: dict[str, str]
    ) -> httpx.Response | None:
        """A signed Twilio webhook, retried as the URL's connection overrides ask."""
        target, overrides = split_overrides(url)
        signature = twilio_signature(self.config.twilio_auth_token, target, params)
        headers = {"X-Twilio-Signature": signature}
        delay = self.config.callback_retry_seconds
        for _ in range(overrides.retries):
            response, failed = await self._request(kind, target, "POST", headers, {"data": params})
            status = None if response is None else response.status_code
            if not overrides.retry_after(status, failed):
                return response
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
        return await self.post(kind, target, headers=headers, data=params)

    def next_script_line(self, who: str) -> str | None:
        """The scripted user's next line (None once the script is done)."""
        script = self.config.scripts.get(who) or []
        with self._lock:
            position = self.script_lines[who]
            self.script_lines[who] += 1
        return script[position] if position < len(script) else None

    def may_answer(self, who: str, body: str) -> bool:
        """A user answers a message that asks for an answer, a bounded number of times."""
        if not self.config.users:
            return False
        lowered = body.casefold()
        if not any(prompt.casefold() in lowered for prompt in self.config.answer_prompts):
            return False
        with self._lock:
            if self.replies_sent[who] >= self.config.max_replies:
                return False
            self.replies_sent[who] += 1
        return True
