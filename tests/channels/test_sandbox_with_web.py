"""The sandbox against the real recall web app: every callback, reply, keypress, event and
click it makes passes the app's own signature checks and is stored as an inbound event."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from sqlalchemy import Engine, func, select

from channels.registry import channel_for
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.db import session_scope
from pipeline.models import Case, InboundEvent
from pipeline.notices.outbound import notice_message
from pipeline.settings import get_settings

MakeCase = Callable[..., Case]


@pytest.fixture
def web_and_sandbox(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SandboxThread]:
    from web.app import create_app

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    web_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = SandboxConfig(
        public_url=web_url, twilio_auth_token="e2e-token", immediate=True, seed=3
    )
    with SandboxThread(config) as sandbox:
        for name, value in sandbox.settings_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RECALL_PUBLIC_URL", web_url)
        monkeypatch.delenv("RECALL_BROKER_URL", raising=False)
        get_settings.cache_clear()
        app = create_app(settings=get_settings(), engine=sqlite_engine)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            yield sandbox
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            get_settings.cache_clear()


def test_everything_the_sandbox_posts_is_accepted(
    web_and_sandbox: SandboxThread, sqlite_engine: Engine, make_case: MakeCase
) -> None:
    sandbox = web_and_sandbox
    sandbox.configure(shares={"query": 1}, open_rate=1.0)
    case = make_case(phone="+15551238000", email="zoe@example.com", locale="zh-CN")
    for kind in ("sms", "voice", "email"):
        assert channel_for(kind).send(notice_message(case, kind, 0)).ok
    sandbox.wait_idle(60)

    kinds = {c["kind"] for c in sandbox.state.callbacks}
    assert {"sms_status", "sms_inbound", "call_status", "voice_twiml", "voice_gather"} <= kinds
    assert {"sendgrid_events", "link_open", "link_answer"} <= kinds
    refused = [c for c in sandbox.state.callbacks if c.get("status", 0) >= 400 or "error" in c]
    assert refused == []
    with session_scope(sqlite_engine) as session:
        stored = dict(
            session.execute(
                select(InboundEvent.provider, func.count()).group_by(InboundEvent.provider)
            ).all()
        )
    assert stored.get("twilio", 0) >= 8 and stored.get("sendgrid", 0) >= 3
    assert stored.get("link", 0) == 1
