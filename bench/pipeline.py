"""Benchmark: a whole campaign end to end — launch → every answer recorded — next to a
no-op Dramatiq actor's messages per second on the same Redis, in the same run.

Real parts only: PostgreSQL, Redis, `recall web` (webhooks → response.process), N `recall
worker` processes, and the provider sandbox in this process with simulated users who all
answer YES at once (no delays). The campaign is SMS only, so each case costs about five
messages (case.notify, channel.send_sms, response.process for the status callbacks and the
reply, channel.send_followup) and three webhooks.

    python bench/pipeline.py --users 2000 --workers 2 --threads 8 [--profile]

--profile samples every worker and the web server with py-spy (if installed) and prints
where the time goes, by our own functions and by leaf frames.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import redis
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _support import (  # noqa: E402
    PostgresShare,
    cpu_seconds,
    drop_database,
    free_port,
    fresh_database,
)

from actors.batch import enqueue_messages  # noqa: E402
from channels.sandbox.config import SandboxConfig  # noqa: E402
from channels.sandbox.runner import SandboxThread  # noqa: E402
from pipeline.db import make_engine  # noqa: E402
from pipeline.models import Attempt, Case  # noqa: E402

BIN = Path(sys.executable).parent
CAMPAIGN = """\
name: "Bench recall"
reason: product_quality
description: "Batch 7 kettles can overheat."
remedy: "Stop using it; we send a free replacement."
deadline: 28d
escalation:
  - {channel: sms, wait: 24h}
quiet_hours: null
"""


AREA_CODES = ("202", "212", "213", "310", "312", "415", "617", "646", "718", "917")


def phone(n: int) -> str:
    """Distinct valid US numbers; lines 99xx are the sandbox's fault numbers, so skipped."""
    area = AREA_CODES[(n // 9900) % len(AREA_CODES)]
    return f"+1{area}555{n % 9900:04d}" if n < 9900 * len(AREA_CODES) else f"+1{n}"


def write_inputs(directory: Path, users: int) -> tuple[Path, Path]:
    spec = directory / "campaign.yaml"
    spec.write_text(CAMPAIGN)
    people = directory / "users.csv"
    rows = ["external_id,name,phone,email,locale,timezone,risk_tier"]
    rows += [f"u{n},User {n},{phone(n)},u{n}@example.com,en,UTC,2" for n in range(users)]
    people.write_text("\n".join(rows) + "\n")
    return spec, people


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)  # Dramatiq forwards it to its children
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def alive(processes: list[subprocess.Popen[bytes]]) -> bool:
    dead = [p.args for p in processes if p.poll() is not None]
    if dead:
        raise SystemExit(f"exited early: {dead} (see the logs)")
    return True


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- the baseline ------------------------------------------------------------------------


def noop_rate(env: dict[str, str], args: argparse.Namespace, logs: Path) -> float:
    """Messages per second a no-op actor gets through on the same Redis, same worker shape."""
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=args.redis_url, namespace="recall-bench-noop")
    command = [
        str(BIN / "dramatiq"),
        "bench.noop_actor:broker",
        "--path",
        str(ROOT),
        "--processes",
        "1",
        "--threads",
        str(args.threads),
    ]
    workers = [start(command, env, logs / f"noop-{i}.log") for i in range(args.workers)]
    try:
        time.sleep(3)  # let the workers boot before the clock starts
        messages = [
            dramatiq.Message(
                queue_name="noop", actor_name="bench.noop", args=(n,), kwargs={}, options={}
            )
            for n in range(args.noop_messages)
        ]
        started = time.perf_counter()
        enqueue_messages(broker, messages)
        wait_for(
            lambda: alive(workers) and broker.do_qsize("noop") == 0,
            600,
            "the no-op queue to drain",
            0.02,
        )
        return args.noop_messages / (time.perf_counter() - started)
    finally:
        stop(workers)
        broker.close()


# --- the pipeline ------------------------------------------------------------------------


def run_pipeline(
    env: dict[str, str], args: argparse.Namespace, logs: Path, database_url: str
) -> dict[str, Any]:
    web_port = int(env["RECALL_PUBLIC_URL"].rsplit(":", 1)[1])
    sandbox = SandboxThread(
        SandboxConfig(
            public_url=env["RECALL_PUBLIC_URL"],
            twilio_auth_token=env["RECALL_TWILIO_AUTH_TOKEN"],
            immediate=True,
            users=True,
            shares={"agree": 1, "refuse": 0, "query": 0, "stop": 0, "silence": 0},
        )
    ).start()
    env = {**env, "RECALL_TWILIO_API_BASE": sandbox.url, "RECALL_SENDGRID_API_BASE": sandbox.url}
    processes = [
        start([str(BIN / "recall"), "web", "--port", str(web_port)], env, logs / "web.log")
    ]
    processes += [
        start(
            [str(BIN / "recall"), "worker", "--processes", "1", "--threads", str(args.threads)],
            env,
            logs / f"worker-{i}.log",
        )
        for i in range(args.workers)
    ]
    # The scheduler too: its periodic jobs (the due-work sweep, lost webhooks, tallies,
    # incidents…) are part of what a case costs recall.
    processes.append(start([str(BIN / "recall"), "scheduler"], env, logs / "scheduler.log"))
    engine = make_engine(database_url)
    profilers: list[subprocess.Popen[bytes]] = []
    try:
        wait_for(lambda: _up(env["RECALL_PUBLIC_URL"]), 60, "recall web")
        time.sleep(3)  # workers boot
        if args.profile:
            names = ["web", *(f"worker-{i}" for i in range(args.workers)), "scheduler"]
            profilers = _start_profilers(dict(zip(names, processes, strict=True)), logs)
        spec, people = write_inputs(logs, args.users)
        roles = {"web": processes[0].pid, "sandbox + launch + bench": os.getpid()}
        roles |= {f"worker {i}": p.pid for i, p in enumerate(processes[1:-1])}
        roles["scheduler"] = processes[-1].pid
        # The Redis server the bench uses, by its port: others (a test's private one) may
        # come and go meanwhile, and must not be counted.
        servers: dict[str, str] = {}
        roles["redis"] = _redis_pid(args.redis_url)
        postgres = PostgresShare(database_url.rsplit("/", 1)[1])
        # What each role burns doing nothing (idle consumers poll Redis; the neighbours of a
        # shared box use the same Redis and PostgreSQL): subtracted per second of the run,
        # so runs of different lengths compare. Busy workers poll less, so it errs low.
        idle_from = cpu_seconds(roles, servers) | _postgres_roles(postgres)
        time.sleep(IDLE_SECONDS)
        cpu_before = cpu_seconds(roles, servers) | _postgres_roles(postgres)
        idle_rate = {r: (cpu_before[r] - idle_from[r]) / IDLE_SECONDS for r in cpu_before}
        sampling = threading.Event()
        sampler = threading.Thread(target=_sample_until, args=(postgres, sampling), daemon=True)
        sampler.start()
        started = time.perf_counter()
        launched = subprocess.run(
            [str(BIN / "recall"), "launch", str(spec), "--users", str(people), "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        launch_seconds = time.perf_counter() - started
        campaign_id = int(json.loads(launched.stdout)["campaign_id"])
        wait_for(
            lambda: _answered(engine, campaign_id) >= args.users, 1800, "every answer recorded", 0.2
        )
        elapsed = time.perf_counter() - started
        sampling.set()
        sampler.join()
        cpu_after = cpu_seconds(roles, servers) | _postgres_roles(postgres)
        footprint = _footprint(engine)
        result = {
            "footprint": footprint,
            "users": args.users,
            "seconds": elapsed,
            "launch_seconds": launch_seconds,
            **_stages(engine, campaign_id),
            "cpu_seconds": {role: cpu_after[role] - cpu_before[role] for role in cpu_after},
            "idle_cpu_per_second": idle_rate,
        }
        return result
    finally:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
        for profiler in profilers:
            profiler.wait(timeout=120)
        stop(processes)
        sandbox.stop()
        engine.dispose()


def _redis_pid(redis_url: str) -> int:
    return int(redis.Redis.from_url(redis_url).info("server")["process_id"])


def _postgres_roles(postgres: PostgresShare) -> dict[str, float]:
    used = postgres.seconds()
    return {"postgresql": used["ours"], "postgresql background": used["background"]}


def _sample_until(postgres: PostgresShare, done: threading.Event) -> None:
    """Read our PostgreSQL backends' CPU now and then, so one that exits stays counted."""
    while not done.wait(0.5):
        postgres.sample()


# recall's own processes: what a deployment runs (the sandbox and the bench stand in for
# Twilio and the users). PostgreSQL's background writers and Redis are shared with whatever
# else uses those servers meanwhile, so this errs high on a busy machine.
def is_recall(role: str) -> bool:
    return role == "web" or role.startswith(("worker", "scheduler", "postgresql", "redis"))


IDLE_SECONDS = 5.0


def print_cpu(
    used: dict[str, float], cases: int, seconds: float, idle: dict[str, float] | None = None
) -> None:
    """Where the CPU went: per role, per case (also net of what the role used idle, per
    second of the run), and the rate the machine's cores would allow if nothing but CPU
    limited it."""
    idle = idle or {}
    machine = used["machine"]
    cores = os.cpu_count() or 1
    print(f"CPU while the campaign ran ({cores} cores, {machine / seconds / cores:.0%} busy):")
    print(f"  {'role':<26} {'CPU s':>7} {'ms/case':>8} {'net':>6} {'share':>6}")
    rows = sorted(((r, v) for r, v in used.items() if r != "machine"), key=lambda rv: -rv[1])
    rows.append(("(everything else)", machine - sum(v for _, v in rows)))
    net: dict[str, float] = {}
    for role, value in rows:
        net[role] = max(value - idle.get(role, 0.0) * seconds, 0.0)
        print(
            f"  {role:<26} {value:7.1f} {value / cases * 1000:8.1f} "
            f"{net[role] / cases * 1000:6.1f} {value / machine:6.0%}"
        )
    own = sum(v for r, v in used.items() if is_recall(r))
    own_net = sum(v for r, v in net.items() if is_recall(r))
    stand_in = used.get("sandbox + launch + bench", 0.0)
    print(
        "  recall's own (web + workers + scheduler + PostgreSQL + Redis): "
        f"{own / cases * 1000:.1f} ms of CPU per case ({own_net / cases * 1000:.1f} net of idle); "
        "the sandbox, launch and "
        f"bench: {stand_in / cases * 1000:.1f} ms"
    )
    per_case = machine / cases
    print(
        f"  machine: {per_case * 1000:.1f} ms of CPU per case, so at most "
        f"{cores / per_case:,.0f} cases/s on {cores} cores if CPU were the only limit"
    )


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _answered(engine: Any, campaign_id: int) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    Case.campaign_id == campaign_id, Case.last_response.is_not(None)
                )
            )
            or 0
        )


def _footprint(engine: Any) -> dict[str, tuple[int, int]]:
    """Rows and bytes (heap + indexes + TOAST) of every table the campaign wrote to."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, n_live_tup, pg_total_relation_size(relid) "
                "FROM pg_stat_user_tables ORDER BY relname"
            )
        ).all()
        sizes = {name: int(size) for name, _, size in rows}
        counts = {}
        for name in sizes:  # n_live_tup lags; count for real
            counts[name] = int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar() or 0)
    return {name: (counts[name], sizes[name]) for name in sizes if counts[name]}


def print_footprint(footprint: dict[str, tuple[int, int]], cases: int) -> None:
    print("what a case leaves in PostgreSQL (rows and bytes incl. indexes, per case):")
    total_rows = total_bytes = 0
    for name, (rows, size) in sorted(footprint.items(), key=lambda kv: -kv[1][1]):
        total_rows, total_bytes = total_rows + rows, total_bytes + size
        print(f"  {name:<20} {rows / cases:6.2f} rows {size / cases:8,.0f} bytes")
    print(f"  {'all':<20} {total_rows / cases:6.2f} rows {total_bytes / cases:8,.0f} bytes")


def redis_bytes_per_message(redis_url: str, count: int = 5000) -> float:
    """Redis memory one queued ``case.notify`` message takes (message hash + queue entry)."""
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_url, namespace="recall-bench-size")
    client = redis.Redis.from_url(redis_url)
    messages: list[dramatiq.Message[Any]] = [
        dramatiq.Message(
            queue_name="case", actor_name="case.notify", args=(10_000_000 + n,), kwargs={},
            options={},
        )
        for n in range(count)
    ]  # fmt: skip
    enqueue_messages(broker, messages)
    keys = list(client.scan_iter("recall-bench-size*"))
    # The queue's own keys (its list and its messages hash), not the whole server: other
    # programs may use this Redis meanwhile.
    used = sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)
    for key in keys:
        client.delete(key)
    broker.close()
    return used / count


def _stages(engine: Any, campaign_id: int) -> dict[str, Any]:
    """Where a case's time goes, from the rows' own timestamps (seconds)."""
    with Session(engine) as session:
        rows = session.execute(
            select(
                Case.created_at,
                Attempt.claimed_at,
                Attempt.sending_at,
                Attempt.sent_at,
                Case.last_response_at,
            )
            .join(Attempt, Attempt.case_id == Case.id)
            .where(Case.campaign_id == campaign_id)
        ).all()
        states = dict(
            session.execute(
                select(Case.state, func.count())
                .where(Case.campaign_id == campaign_id)
                .group_by(Case.state)
            ).all()
        )
    first = min(r.created_at for r in rows)

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3) if values else float("nan")

    return {
        "states": states,
        "first_send_after": round((min(r.sent_at for r in rows) - first).total_seconds(), 3),
        "last_send_after": round((max(r.sent_at for r in rows) - first).total_seconds(), 3),
        "last_answer_after": round(
            (max(r.last_response_at for r in rows) - first).total_seconds(), 3
        ),
        "median_claim_to_sending": median(
            [(r.sending_at - r.claimed_at).total_seconds() for r in rows]
        ),
        "median_provider_call": median([(r.sent_at - r.sending_at).total_seconds() for r in rows]),
        "median_sent_to_answer": median(
            [(r.last_response_at - r.sent_at).total_seconds() for r in rows]
        ),
    }


def _start_profilers(
    processes: dict[str, subprocess.Popen[bytes]], logs: Path
) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(spy).exists():
        print("py-spy not installed: no profile", file=sys.stderr)
        return []
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(p.pid),
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                "50",
                "--output",
                str(logs / f"profile-{name}.txt"),
                "--nonblocking",
                "--gil",  # only threads holding the GIL: where Python spends CPU, not waits
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, p in processes.items()
    ]


OURS = ("pipeline/", "actors/", "channels/", "web/")
# Leaf frames where a thread sleeps or waits for work (py-spy cannot always tell).
IDLE_POINTS = (
    "dramatiq/brokers/redis.py:370",  # an idle consumer's backoff sleep
    "dramatiq/middleware/time_limit.py",  # the time-limit timer thread
    "dramatiq/cli.py",  # the worker's main thread waiting for shutdown
    "asyncio/runners.py",  # uvicorn's event loop waiting in select
    "threading.py",  # Condition/Event waits
    "selectors.py",
)


def summarise_profiles(logs: Path, top: int = 15) -> None:
    """Collapsed stacks → the heaviest frames: inclusive for our code, self for everything."""
    for path in sorted(logs.glob("profile-*.txt")):
        inclusive: collections.Counter[str] = collections.Counter()
        leaf: collections.Counter[str] = collections.Counter()
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            frames = stack.split(";")
            if any(point in frames[-1] for point in IDLE_POINTS):
                continue  # threads asleep are not where time goes
            total += samples
            leaf[frames[-1]] += samples
            for frame in set(frames):
                if any(part in frame for part in OURS):
                    inclusive[frame] += samples
        name = path.stem.removeprefix("profile-").replace("-", " ")
        print(f"\n{name}: {total} busy samples")
        print("  our functions (inclusive):")
        for frame, samples in inclusive.most_common(top):
            print(f"    {samples / max(total, 1):6.1%}  {frame[:110]}")
        print("  leaf frames (self):")
        for frame, samples in leaf.most_common(top):
            print(f"    {samples / max(total, 1):6.1%}  {frame[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="`recall worker` processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--noop-messages", type=int, default=20000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--profile", action="store_true", help="sample with py-spy")
    args = parser.parse_args()

    name = f"recall_bench_pipeline_{os.getpid()}"
    database_url = fresh_database(args.pg_admin_url, name)
    redis.Redis.from_url(args.redis_url).flushdb()
    logs = Path(tempfile.mkdtemp(prefix="recall-bench-"))
    env = {
        **os.environ,
        "RECALL_DATABASE_URL": database_url,
        "RECALL_BROKER_URL": args.redis_url,
        "RECALL_BROKER_NAMESPACE": "recall-bench",
        "RECALL_PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
        "RECALL_TWILIO_AUTH_TOKEN": "bench-auth-token",
        "RECALL_SMS_PER_SECOND": "100000",
        "RECALL_LOG_LEVEL": "WARNING",
    }
    try:
        noop = noop_rate(env, args, logs)
        print(
            f"no-op actor: {noop:,.0f} messages/s ({args.workers} workers x {args.threads} threads)"
        )
        result = run_pipeline(env, args, logs, database_url)
    finally:
        drop_database(args.pg_admin_url, name)
        redis.Redis.from_url(args.redis_url).flushdb()
    rate = result["users"] / result["seconds"]
    print(
        f"pipeline: {result['users']} cases, launch → every answer recorded in "
        f"{result['seconds']:.1f}s = {rate:,.1f} cases/s"
    )
    print(f"ratio: cases/s ÷ no-op messages/s = 1/{noop / rate:.1f} (target: at least 1/60)")
    print_cpu(
        result["cpu_seconds"], result["users"], result["seconds"], result["idle_cpu_per_second"]
    )
    print_footprint(result["footprint"], result["users"])
    print(f"Redis: {redis_bytes_per_message(args.redis_url):,.0f} bytes per queued case.notify")
    hidden = ("cpu_seconds", "footprint", "idle_cpu_per_second")
    shown = {k: v for k, v in result.items() if k not in hidden}
    print(json.dumps(shown, indent=2))
    if args.profile:
        summarise_profiles(logs)
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
