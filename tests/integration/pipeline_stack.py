"""A real pipeline for integration tests and the benchmark: PostgreSQL, a Redis broker,
`recall worker` subprocesses, the provider sandbox, and a sweeper thread standing in for the
scheduler's sweep job."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from actors.batch import enqueue_messages
from actors.broker import make_broker
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.cases.sweep import claim_due_cases
from pipeline.clock import utcnow
from pipeline.settings import Settings
from tests.stack_queries import StackQueries

RECALL = str(Path(sys.executable).with_name("recall"))

CAMPAIGN_YAML = """\
name: "Integration recall"
reason: product_quality
description: "Batch 7 kettles can overheat."
remedy: "Reply YES for a free replacement."
deadline: 28d
escalation:
  - {channel: sms, wait: %(wait)s}
  - {channel: email, wait: %(wait)s}
quiet_hours: null
"""


def write_campaign(directory: Path, users: int, *, wait: str = "1h") -> tuple[Path, Path]:
    spec = directory / "campaign.yaml"
    spec.write_text(CAMPAIGN_YAML % {"wait": wait})
    people = directory / "users.csv"
    with people.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["external_id", "name", "phone", "email", "locale", "timezone", "risk_tier"])
        for n in range(users):
            out.writerow(
                [f"u{n}", f"User {n}", f"+1202555{n:04d}", f"u{n}@example.com", "en", "UTC", 2]
            )
    return spec, people


@dataclass
class Stack(StackQueries):
    engine: Engine
    database_url: str
    redis_url: str
    workdir: Path
    settings_env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sandbox: SandboxThread | None = None
    broker: dramatiq.Broker | None = None
    _sweeping: threading.Event = field(default_factory=threading.Event)
    _sweeper: threading.Thread | None = None

    def start(self, *, sandbox: SandboxConfig | None = None, **env: str) -> Stack:
        config = sandbox or SandboxConfig(
            users=False, immediate=True, public_url="http://127.0.0.1:9"
        )
        self.sandbox = SandboxThread(config).start()
        namespace = f"recall-it-{os.getpid()}"
        self.settings_env = {
            "RECALL_DATABASE_URL": self.database_url,
            "RECALL_BROKER_URL": self.redis_url,
            "RECALL_BROKER_NAMESPACE": namespace,
            "RECALL_TWILIO_API_BASE": self.sandbox.url,
            "RECALL_SENDGRID_API_BASE": self.sandbox.url,
            "RECALL_PUBLIC_URL": config.public_url,
            "RECALL_SMS_PER_SECOND": "100000",
            "RECALL_EMAILS_PER_SECOND": "100000",
            "RECALL_ATTEMPT_LEASE_SECONDS": "4",
            "RECALL_REQUEUE_AFTER_SECONDS": "4",
            "RECALL_SENDING_STALE_SECONDS": "4",
            "RECALL_SEND_MIN_BACKOFF_MS": "200",
            "RECALL_MAX_SMS_PER_DAY": "100",
            "RECALL_MAX_EMAILS_PER_DAY": "100",
            "RECALL_WORKER_METRICS_PORT": "0",  # several workers on one host
            **env,
        }
        self.broker = make_broker(Settings(broker_url=self.redis_url, broker_namespace=namespace))
        return self

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.settings_env}

    def recall(self, *args: str) -> str:
        done = subprocess.run(
            [RECALL, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.workdir,
        )
        if done.returncode != 0:
            raise AssertionError(f"recall {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def launch(self, users: int, *, wait: str = "1h") -> int:
        spec, people = write_campaign(self.workdir, users, wait=wait)
        out = self.recall("launch", str(spec), "--users", str(people), "--json")
        return int(json.loads(out)["campaign_id"])

    def start_worker(self, *, processes: int = 1, threads: int = 8) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"worker-{len(self.workers)}.log").open("wb")
        process = subprocess.Popen(
            [RECALL, "worker", "--processes", str(processes), "--threads", str(threads)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the worker's whole process group (Dramatiq's parent and its children)."""
        os.killpg(process.pid, sig)
        process.wait(timeout=60)

    def sweep_once(self) -> int:
        settings = Settings(
            requeue_after_seconds=float(self.settings_env["RECALL_REQUEUE_AFTER_SECONDS"])
        )
        with Session(self.engine) as session, session.begin():
            ids = claim_due_cases(session, utcnow(), 1000, settings=settings)
        assert self.broker is not None
        messages = [
            dramatiq.Message(
                queue_name="case", actor_name="case.notify", args=(i,), kwargs={}, options={}
            )
            for i in ids
        ]
        return enqueue_messages(self.broker, messages)

    def start_sweeper(self, every: float = 1.0) -> None:
        """The scheduler's sweep job, every ``every`` seconds."""

        def run() -> None:
            while not self._sweeping.wait(every):
                self.sweep_once()

        self._sweeper = threading.Thread(target=run, daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        self._sweeping.set()
        if self._sweeper:
            self._sweeper.join(timeout=10)
        for process in self.workers:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)  # Dramatiq forwards it to its children
        for process in self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if self.sandbox:
            self.sandbox.stop()
        if self.broker:
            self.broker.close()

    # What happened, from the database and from the sandbox.

    def texts_per_recipient(self) -> Counter[str]:
        return Counter(message["to"] for message in self.sandbox_messages("sms"))
