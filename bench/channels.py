"""How fast the adapters push notices through the real clients into the sandbox.

    python -m bench.channels [--sends N] [--threads 1,8]

Starts the sandbox (immediate, users off) and a null web app that only answers 200, builds
real Case rows in a throwaway SQLite file, then sends N SMS and N emails per thread count.
Prints sends/second and the ratio against one thread (the baseline).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from channels.registry import channel_for
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.db import make_engine, session_scope
from pipeline.migrations import create_schema
from pipeline.models import Campaign, Case, Recipient
from pipeline.notices.outbound import notice_message
from pipeline.settings import get_settings


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def make_cases(url: str, count: int) -> list[Case]:
    from datetime import UTC, datetime

    engine = make_engine(url)
    create_schema(engine)
    with session_scope(engine) as session:
        campaign = Campaign(
            name="Bench kettle",
            reason="product_quality",
            description="KX kettles",
            remedy="Return it",
            deadline=datetime(2030, 1, 1, tzinfo=UTC),
            state="running",
        )
        session.add(campaign)
        session.flush()
        for n in range(count):
            recipient = Recipient(
                external_id=f"b{n}", name="B", phone=f"+1555{n:07d}", email=f"b{n}@example.com"
            )
            session.add(recipient)
            session.flush()
            session.add(Case(campaign_id=campaign.id, recipient_id=recipient.id))
    with session_scope(engine) as session:
        cases = list(session.query(Case).all())
        session.expunge_all()
    return cases


def run(kind: str, cases: list[Case], threads: int) -> float:
    channel = channel_for(kind)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        # Rendered inside the timing, as the adapters did before the port took Outbound.
        results = list(pool.map(lambda case: channel.send(notice_message(case, kind, 0)), cases))
    elapsed = time.perf_counter() - started
    assert all(result.ok for result in results)
    return len(cases) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sends", type=int, default=500)
    parser.add_argument("--threads", default="1,8")
    parser.add_argument(
        "--sandbox-url", help="Use a running `recall sandbox --immediate` (its own process)."
    )
    args = parser.parse_args()
    web = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    web_url = f"http://127.0.0.1:{web.server_address[1]}"
    config = SandboxConfig.from_settings(public_url=web_url, immediate=True, users=False)
    with SandboxThread(config) as sandbox, tempfile.TemporaryDirectory() as tmp:
        os.environ.update({**sandbox.settings_env(), "RECALL_PUBLIC_URL": web_url})
        get_settings.cache_clear()
        cases = make_cases(f"sqlite:///{tmp}/bench.db", args.sends)
        for kind in ("sms", "email"):
            baseline = None
            for threads in (int(t) for t in args.threads.split(",")):
                rate = run(kind, cases, threads)
                baseline = baseline or rate
                print(
                    f"{kind:5} threads={threads:<3} {rate:8.1f} sends/s "
                    f"(x{rate / baseline:.2f} vs 1 thread)"
                )
                sandbox.wait_idle(120)
    web.shutdown()


if __name__ == "__main__":
    main()
