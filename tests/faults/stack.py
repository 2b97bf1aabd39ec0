"""The whole deployment for fault tests: a private PostgreSQL and Redis (tests/faults/servers),
`recall web`, two `recall worker` processes, `recall scheduler`, and the provider sandbox
with simulated users who each answer the notice once, YES.

What a test reads back is what an operator would: case states and answers from the
database, and from the sandbox what reached each phone. ``Recovery`` times how long after a
fault the campaign moved again and settled (printed; never asserted against a clock).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.db import make_engine
from pipeline.models import Case, InboundEvent, Response
from tests.faults.servers import PrivatePostgres, PrivateRedis
from tests.stack_queries import StackQueries, wait_until
from tests.web.support import free_port

RECALL = str(Path(sys.executable).with_name("recall"))
REPORT = Path(__file__).resolve().parents[2] / ".ci" / "output" / "faults.txt"
USERS = 1000
NOTICE = "Reply YES to agree"
CONFIRMATION = "We recorded that you agree"

CAMPAIGN_YAML = """\
name: "Fault drill"
reason: product_quality
description: "Batch 7 kettles can overheat."
remedy: "Return it to any shop for a free replacement."
deadline: 28d
escalation:
  - {channel: sms, wait: 90s}
  - {channel: email, wait: 1h}
quiet_hours: null
"""


def phone(n: int) -> str:
    return f"+1202555{n:04d}"  # lines below 9900: none is a sandbox fault number


EMAIL_FIRST = """\
  - {channel: email, wait: 1h}
"""


def write_inputs(directory: Path, users: int, email_first: bool = False) -> tuple[Path, Path]:
    spec = directory / "campaign.yaml"
    text = CAMPAIGN_YAML
    if email_first:  # an email-only ladder: every answer comes through SendGrid's events
        head, _, _ = text.partition("escalation:\n")
        text = head + "escalation:\n" + EMAIL_FIRST + "quiet_hours: null\n"
    spec.write_text(text)
    people = directory / "users.csv"
    rows = ["external_id,name,phone,email,locale,timezone,risk_tier"]
    rows += [f"u{n},User {n},{phone(n)},u{n}@example.com,en,UTC,2" for n in range(users)]
    people.write_text("\n".join(rows) + "\n")
    return spec, people


@dataclass
class FaultStack(StackQueries):
    postgres: PrivatePostgres
    redis: PrivateRedis
    database_url: str
    workdir: Path
    sandbox: SandboxThread | None = None
    web: subprocess.Popen[bytes] | None = None
    scheduler: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    _engine: Engine | None = None
    _logs: int = 0

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def start(self, sandbox: dict[str, Any] | None = None, **env: str) -> FaultStack:
        config = SandboxConfig(
            public_url=self.public_url,
            immediate=False,
            callback_delay=(0.05, 0.3),
            reply_delay=(0.1, 0.5),
            callback_retry_seconds=0.5,
            shares={"agree": 1, "refuse": 0, "query": 0, "stop": 0, "silence": 0},
            max_replies=1,
            open_rate=1.0,
            seed=7,
        )
        self.sandbox = SandboxThread(config.updated(sandbox or {})).start()
        self.env = {
            **os.environ,
            **self.sandbox.settings_env(),
            "RECALL_DATABASE_URL": self.database_url,
            "RECALL_BROKER_URL": self.redis.url,
            "RECALL_BROKER_NAMESPACE": "recall-faults",
            "RECALL_PUBLIC_URL": self.public_url,
            "RECALL_SMS_PER_SECOND": "100000",
            "RECALL_EMAILS_PER_SECOND": "100000",
            "RECALL_MAX_SMS_PER_DAY": "100",
            "RECALL_CHECK_INTERVAL": "5",
            "RECALL_LOG_LEVEL": "INFO",
            "RECALL_WORKER_METRICS_PORT": "0",  # two workers on one host: one port each
            **env,
        }
        self.recall("db", "upgrade")
        self.start_web()
        self.start_scheduler()
        for _ in range(2):
            self.start_worker()
        time.sleep(2)  # the workers import the pipeline before they consume
        return self

    # -- processes ------------------------------------------------------------------------

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self._logs += 1
        log = (self.workdir / f"{name}-{self._logs}.log").open("wb")
        return subprocess.Popen(
            [RECALL, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )

    def recall(self, *args: str) -> str:
        done = subprocess.run(
            [RECALL, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise AssertionError(f"recall {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def start_web(self) -> None:
        self.web = self._spawn("web", "web", "--host", "127.0.0.1", "--port", str(self.web_port))
        wait_until(self._web_up, 60, "recall web")

    def _web_up(self) -> bool:
        try:
            return httpx.get(f"{self.public_url}/healthz", timeout=2).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn("scheduler", "scheduler")

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = self._spawn("worker", "worker", "--processes", "1", "--threads", "8")
        self.workers.append(worker)
        return worker

    def kill(self, process: subprocess.Popen[bytes] | None) -> None:
        """SIGKILL to the process group: no clean shutdown, nothing acknowledged."""
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        processes = [p for p in [self.web, self.scheduler, *self.workers] if p is not None]
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self._engine is not None:
            self._engine.dispose()

    def launch(self, users: int = USERS, *, email_first: bool = False) -> int:
        spec, people = write_inputs(self.workdir, users, email_first)
        out = self.recall("launch", str(spec), "--users", str(people), "--json")
        return int(json.loads(out)["campaign_id"])

    # -- what happened ----------------------------------------------------------------------

    def answers_per_case(self, campaign_id: int) -> Counter[int]:
        """Recorded answers (responses of kind agree) per case."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(Response.case_id, func.count())
                .join(Case, Case.id == Response.case_id)
                .where(Case.campaign_id == campaign_id, Response.kind == "agree")
                .group_by(Response.case_id)
            )
            return Counter({case_id: count for case_id, count in rows})

    def notices_per_phone(self) -> Counter[str]:
        """Outbound texts that carry the notice (the one that asks for YES), per phone."""
        return Counter(
            m["to"]
            for m in self.sandbox_messages()
            if m.get("direction", "outbound") == "outbound" and NOTICE in m.get("body", "")
        )

    def confirmations_per_phone(self) -> Counter[str]:
        """Follow-ups confirming the answer, per phone: one each, never two."""
        return Counter(
            m["to"] for m in self.sandbox_messages() if CONFIRMATION in m.get("body", "")
        )

    def user_answers(self) -> Counter[str]:
        """Answers the simulated users sent (SMS replies, email link answers), per sender."""
        return Counter(
            m["from"]
            for channel in ("sms", "email")
            for m in self.sandbox_messages(channel)
            if m.get("direction") == "inbound"
        )

    def email_notices_per_address(self) -> Counter[str]:
        return Counter(
            m["to"]
            for m in self.sandbox_messages("email")
            if m.get("direction", "outbound") == "outbound"
            and "please answer by" in str(m.get("subject"))
        )

    def responses(self, campaign_id: int) -> Counter[str]:
        """Recorded answers of the campaign's users, by kind."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(Response.kind, func.count())
                .join(Case, Case.id == Response.case_id)
                .where(Case.campaign_id == campaign_id)
                .group_by(Response.kind)
            )
            return Counter({key: count for key, count in rows})

    def sent_count(self) -> int:
        return sum(self.notices_per_phone().values())

    def stored_event_ids(self, prefix: str) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(InboundEvent.provider_event_id).where(
                        InboundEvent.provider_event_id.startswith(prefix)
                    )
                )
            )

    def stored_answers(self) -> int:
        """Answers users sent that are stored (raw, once each): SMS replies and email
        link answers. A late second answer to a closed case is stored too, not applied."""
        with Session(self.engine) as session:
            sms = (InboundEvent.provider == "twilio") & (InboundEvent.kind == "sms")
            link = InboundEvent.provider == "link"
            query = select(func.count()).select_from(InboundEvent).where(sms | link)
            return int(session.scalar(query) or 0)

    def buffered(self) -> int:
        """Webhooks waiting in Redis for the database (actors.inbound_buffer)."""
        import redis

        return int(redis.Redis.from_url(self.redis.url).xlen("recall-faults:inbound:buffer"))

    def progress(self, campaign_id: int) -> int:
        """Cases that moved on from pending/notifying: sends and answers both count."""
        states = self.case_states(campaign_id)
        return sum(n for state, n in states.items() if state not in ("pending", "notifying"))

    def settled(self, campaign_id: int, users: int = USERS) -> bool:
        return self.case_states(campaign_id).get("completed", 0) == users


@dataclass
class Recovery:
    """Seconds from a fault until the campaign moved again, and until it settled."""

    name: str
    moving_again: float = 0.0
    settled: float = 0.0

    @classmethod
    def measure(
        cls, name: str, stack: FaultStack, campaign_id: int, fault_at: float, timeout: float = 300
    ) -> Recovery:
        """Polls from ``fault_at`` (a monotonic time) until the campaign settles: moving
        again is the first new notice or answer after the fault."""
        recovery = cls(name)
        before = stack.sent_count() + len(stack.user_answers())
        moved = False
        while not stack.settled(campaign_id):
            elapsed = time.monotonic() - fault_at
            if elapsed > timeout:
                raise AssertionError(
                    f"{name}: not settled {timeout}s after the fault: "
                    f"{dict(stack.case_states(campaign_id))}, {stack.sent_count()} notices, "
                    f"{len(stack.user_answers())} answers, "
                    f"attempts {dict(stack.attempt_statuses(campaign_id))}"
                )
            if not moved and stack.sent_count() + len(stack.user_answers()) > before:
                moved, recovery.moving_again = True, elapsed
            time.sleep(0.25)
        recovery.settled = time.monotonic() - fault_at
        if not moved:
            recovery.moving_again = recovery.settled
        return recovery

    def report(self, **figures: object) -> None:
        """Prints the figures, and appends them to .ci/output/faults.txt (a CI artifact)."""
        extra = " ".join(f"{k}={v}" for k, v in figures.items())
        line = (
            f"[fault] {self.name}: moving again after {self.moving_again:.1f}s, "
            f"settled {self.settled:.1f}s after the fault {extra}"
        )
        print("\n" + line)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        with REPORT.open("a") as out:
            out.write(line + "\n")
