"""Helpers for the web tests: sign like Twilio and SendGrid do, read what was stored/enqueued.

Signatures come from the providers' own code (Twilio's RequestValidator) or scheme
(SendGrid: ECDSA P-256 over timestamp + body, base64 DER signature and public key).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from actors.broker import broker
from pipeline.models import Campaign, Case, InboundEvent, Recipient
from tests.processes import stop

PUBLIC_URL = "https://recall.example.com"
TWILIO_TOKEN = "test-auth-token-0123456789abcdef"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# What a process facing the internet must be given instead of the development defaults
# (pipeline.production): a public RECALL_PUBLIC_URL refuses to start without these.
PRODUCTION_ENV = {
    "RECALL_SECRET_KEY": "test-only-secret-key-0123456789abcdefghijklmnop",
    "RECALL_DASHBOARD_USERS": "ops:a-test-password-long-enough",
    "RECALL_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "RECALL_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
    "RECALL_SENDGRID_API_KEY": "SG.test-only-key",
}


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def twilio_headers(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    return {**FORM, "X-Twilio-Signature": twilio_signature(url, params, token)}


@dataclass
class SendGridKeys:
    private: ec.EllipticCurvePrivateKey
    public_b64: str

    @classmethod
    def generate(cls) -> SendGridKeys:
        private = ec.generate_private_key(ec.SECP256R1())
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, base64.b64encode(der).decode())

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        timestamp = timestamp or str(int(time.time()))
        signature = self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }


def json_body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def stub_broker() -> StubBroker:
    assert isinstance(broker, StubBroker), "web tests expect the in-process broker"
    return broker


def enqueued(actor_name: str = "response.process") -> list[list[Any]]:
    """The args of every message waiting on the stub broker for ``actor_name``. For
    ``response.process``, an event handed on in a ``response.process_group`` counts as if it
    had a message of its own: how events are grouped is the sender's business."""
    messages = [
        dramatiq.Message.decode(data)
        for queue in stub_broker().queues.values()
        for data in list(queue.queue)
    ]
    args = [list(m.args) for m in messages if m.actor_name == actor_name]
    if actor_name == "response.process":
        groups = [m.args[0] for m in messages if m.actor_name == "response.process_group"]
        args += [[event_id] for group in groups for event_id in group]
    return args


def stored(engine: Engine) -> list[InboundEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(InboundEvent).order_by(InboundEvent.id)))


def make_case(engine: Engine, *, locale: str = "en", phone: str = "+15551230001") -> int:
    with Session(engine) as session:
        recipient = Recipient(external_id=f"u-{phone}", name="Ada", phone=phone, locale=locale)
        campaign = Campaign(
            name="Kettle recall",
            reason="product_quality",
            description="The kettle's switch can overheat.",
            remedy="Stop using it; we will send a prepaid return label.",
            deadline=datetime.now(UTC) + timedelta(days=30),
            state="running",
        )
        case = Case(recipient=recipient, campaign=campaign, state="awaiting_response")
        session.add(case)
        session.commit()
        return case.id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def recall_web(env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """Run ``recall web`` as a real uvicorn process on a free port; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "RECALL_PUBLIC_URL": base, **env}
    recall = str(Path(sys.executable).with_name("recall"))
    command = [recall, "web", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=full_env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_healthy(base, process)
        yield base
    finally:
        stop(process, timeout=15)


def _wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"recall web exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("recall web did not become healthy within 30s")
