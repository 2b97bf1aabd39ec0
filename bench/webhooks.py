"""Benchmark: inbound SMS webhooks per second and latency against a real `recall web`.

Starts `recall web` (uvicorn; PostgreSQL; Redis broker) on a free port, then fires signed
Twilio inbound-SMS webhooks with unique MessageSids from N concurrent keep-alive clients and
prints requests/s, p50/p90/p99/max latency and the CPU each request cost the server, the
client, PostgreSQL (the backends of the bench's database) and Redis (the whole redis-server,
which other work may share). Afterwards it checks that every request left exactly one row in
``inbound_event`` and one ``response.process`` message on Redis.

The load generator shares the machine with the server, so by default it is a small asyncio
HTTP/1.1 client sending pre-signed requests (``--client raw``), which costs a fraction of the
CPU httpx needs per request; ``--client httpx`` is there to compare.

    python bench/webhooks.py --requests 5000 --concurrency 50 --workers 1 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import redis
from _support import drop_database, free_port, fresh_database
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from pipeline.db import make_engine
from pipeline.models import InboundEvent

TOKEN = "bench-auth-token"
PATH = "/webhooks/twilio/sms"


def signed_bodies(base: str, count: int, offset: int) -> list[tuple[bytes, str]]:
    validator = RequestValidator(TOKEN)
    out = []
    for i in range(offset, offset + count):
        params = {
            "MessageSid": f"SM{i:032x}",
            "AccountSid": "AC00000000000000000000000000000000",
            "From": f"+1555{i % 10_000_000:07d}",
            "To": "+15005550006",
            "Body": "YES",
            "NumSegments": "1",
        }
        signature = validator.compute_signature(base + PATH, params)
        out.append((urlencode(params).encode(), signature))
    return out


def raw_request(host: str, body: bytes, signature: str) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run_raw(port: int, requests: list[bytes], concurrency: int) -> tuple[list[float], int]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            errors += status != 200
        writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors


async def run_httpx(
    base: str, bodies: list[tuple[bytes, str]], concurrency: int
) -> tuple[list[float], int]:
    queue = list(reversed(bodies))
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def client() -> None:
            nonlocal errors
            while queue:
                body, signature = queue.pop()
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                }
                started = time.perf_counter()
                response = await http.post(PATH, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors


def start_web(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    recall = str(Path(sys.executable).with_name("recall"))
    command = [recall, "web", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("recall web did not start")


def count_events(database_url: str) -> int:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(InboundEvent)).scalar_one()
    engine.dispose()
    return int(count)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn's workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def service_cpu_seconds(database: str) -> tuple[float, float]:
    """CPU of the PostgreSQL backends serving ``database`` and of redis-server, from /proc.

    The backends are the server's own connections; Redis may be shared with other work on
    the machine, so its figure is an upper bound."""
    ticks = os.sysconf("SC_CLK_TCK")
    postgres = redis_server = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        if command.startswith(b"postgres:") and f" {database} ".encode() in command:
            postgres += cpu
        elif command.startswith(b"redis-server"):
            redis_server += cpu
    return postgres, redis_server


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_once(args: argparse.Namespace, workers: int, database_url: str) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    namespace = f"recall-bench-{os.getpid()}-{workers}"
    env = {
        "RECALL_DATABASE_URL": database_url,
        "RECALL_BROKER_URL": args.redis_url,
        "RECALL_BROKER_NAMESPACE": namespace,
        "RECALL_PUBLIC_URL": base,
        "RECALL_TWILIO_AUTH_TOKEN": TOKEN,
        "RECALL_LOG_LEVEL": "WARNING",
    }
    offset = workers * 10_000_000
    warm = signed_bodies(base, args.warmup, offset)
    bodies = signed_bodies(base, args.requests, offset + args.warmup)
    host = f"127.0.0.1:{port}"
    rows_before = count_events(database_url)
    process = start_web(env, port, workers)
    try:
        if args.client == "raw":
            asyncio.run(run_raw(port, [raw_request(host, *b) for b in warm], args.concurrency))
            prepared = [raw_request(host, *b) for b in bodies]
            services_before = service_cpu_seconds(database_url.rsplit("/", 1)[1])
            cpu_before, client_before = tree_cpu_seconds(process.pid), time.process_time()
            started = time.perf_counter()
            latencies, errors = asyncio.run(run_raw(port, prepared, args.concurrency))
        else:
            asyncio.run(run_httpx(base, warm, args.concurrency))
            services_before = service_cpu_seconds(database_url.rsplit("/", 1)[1])
            cpu_before, client_before = tree_cpu_seconds(process.pid), time.process_time()
            started = time.perf_counter()
            latencies, errors = asyncio.run(run_httpx(base, bodies, args.concurrency))
        elapsed = time.perf_counter() - started
        server_cpu = tree_cpu_seconds(process.pid) - cpu_before
        client_cpu = time.process_time() - client_before
        services_after = service_cpu_seconds(database_url.rsplit("/", 1)[1])
    finally:
        process.terminate()
        process.wait(timeout=15)
    broker = redis.Redis.from_url(args.redis_url)
    queued = broker.hlen(f"{namespace}:response.msgs")
    # Leave the Redis db as found (the web process registers a heartbeat too).
    broker.delete(
        *(f"{namespace}:{key}" for key in ("response", "response.msgs", "__heartbeats__"))
    )
    rows = count_events(database_url) - rows_before
    total = args.requests + args.warmup
    return {
        "workers": workers,
        "requests": args.requests,
        "errors": errors,
        "req_per_s": args.requests / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "server_cpu_ms": server_cpu / args.requests * 1000,
        "client_cpu_ms": client_cpu / args.requests * 1000,
        "pg_cpu_ms": (services_after[0] - services_before[0]) / args.requests * 1000,
        "redis_cpu_ms": (services_after[1] - services_before[1]) / args.requests * 1000,
        "rows_ok": float(rows == total),
        "queued_ok": float(queued == total),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    name = f"recall_bench_web_{os.getpid()}"
    database_url = fresh_database(args.pg_admin_url, name)
    print(
        f"inbound SMS webhook, {args.requests} signed requests, {args.concurrency} concurrent "
        f"clients ({args.client}), PostgreSQL + Redis, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':50}CPU ms/request")
    print(
        "workers  req/s   p50 ms  p90 ms  p99 ms  max ms  errors  "
        "server  client      PG   Redis  stored+queued once"
    )
    try:
        for workers in args.workers:
            r = bench_once(args, workers, database_url)
            ok = "yes" if r["rows_ok"] and r["queued_ok"] else "NO"
            print(
                f"{workers:>7}  {r['req_per_s']:6.0f}  {r['p50_ms']:6.1f}  {r['p90_ms']:6.1f}  "
                f"{r['p99_ms']:6.1f}  {r['max_ms']:6.1f}  {r['errors']:>6}  "
                f"{r['server_cpu_ms']:6.2f}  {r['client_cpu_ms']:6.2f}  {r['pg_cpu_ms']:6.2f}  "
                f"{r['redis_cpu_ms']:6.2f}  {ok}"
            )
    finally:
        drop_database(args.pg_admin_url, name)


if __name__ == "__main__":
    main()
