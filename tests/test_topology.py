"""docker-compose.yml's topology, run here without a Docker engine.

Each recall service's command from the compose file is run locally as `recall <command>`
against this machine's PostgreSQL and Redis (ports swapped for free ones), and must come up
and do its job: the migration creates the tables, web answers /healthz with both checks
green, workers heartbeat on the broker, the scheduler takes the leader lock, the sandbox
answers the Twilio API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from sqlalchemy import inspect

from pipeline.db import make_engine
from pipeline.migrations import drop_schema
from tests.processes import stop
from tests.web.support import free_port

ROOT = Path(__file__).resolve().parents[1]
RECALL = str(Path(sys.executable).with_name("recall"))


def compose_services() -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {
        name: service
        for name, service in spec["services"].items()
        if service.get("image", "").startswith("recall")
    }


def local_command(command: list[str], port: int) -> list[str]:
    """The compose command with container addresses swapped for this machine's."""
    swapped = [("127.0.0.1" if part == "0.0.0.0" else part) for part in command]
    if "--port" in swapped:
        swapped[swapped.index("--port") + 1] = str(port)
    return [RECALL, *swapped]


@contextmanager
def running(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        stop(process)


def eventually(check: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"{what} exited with {process.returncode}: {stderr[-2000:]}")
        try:
            if check():
                return
        except (httpx.HTTPError, redis.RedisError):
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} did not come up within 60 s")


@pytest.fixture
def topology_env(pg_database_url: str, redis_url: str) -> dict[str, str]:
    # The session's database may hold tables other tests created without migrations; the
    # migrate role must meet an empty one, as on a fresh deployment.
    engine = make_engine(pg_database_url)
    drop_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    return {
        "RECALL_DATABASE_URL": pg_database_url,
        "RECALL_BROKER_URL": redis_url,
        "RECALL_BROKER_NAMESPACE": f"recall-topology-{os.getpid()}",
    }


def test_compose_runs_every_role() -> None:
    assert set(compose_services()) >= {"migrate", "web", "worker", "scheduler", "sandbox"}


def test_every_role_comes_up_against_local_servers(
    topology_env: dict[str, str], pg_database_url: str, redis_url: str
) -> None:
    services = compose_services()
    client = redis.Redis.from_url(redis_url)
    namespace = topology_env["RECALL_BROKER_NAMESPACE"]

    migrate = subprocess.run(
        local_command(services["migrate"]["command"], 0),
        env={**os.environ, **topology_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    tables = set(inspect(make_engine(pg_database_url)).get_table_names())
    assert {"campaign", "recall_case", "attempt", "inbound_event", "audit_event"} <= tables

    web_port, sandbox_port = free_port(), free_port()
    with (
        running(local_command(services["web"]["command"], web_port), topology_env) as web,
        running(local_command(services["worker"]["command"], 0), topology_env) as worker,
        running(local_command(services["scheduler"]["command"], 0), topology_env) as scheduler,
        running(local_command(services["sandbox"]["command"], sandbox_port), topology_env) as box,
    ):

        def web_healthy() -> bool:
            health = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=2)
            return health.status_code == 200 and health.json()["broker"] == "ok"

        def workers_heartbeat() -> bool:
            return client.zcard(f"{namespace}:__heartbeats__") > 0

        def scheduler_leads() -> bool:
            return bool(client.exists(f"{namespace}:scheduler:leader"))

        def sandbox_answers() -> bool:
            return httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/requests").is_success

        eventually(web_healthy, web, "web")
        eventually(workers_heartbeat, worker, "worker")
        eventually(scheduler_leads, scheduler, "scheduler")
        eventually(sandbox_answers, box, "sandbox")
