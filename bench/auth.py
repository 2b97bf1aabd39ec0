"""Benchmark: what a login costs the server, by kind of try, side by side.

Starts `recall web` (one uvicorn process, SQLite) with users whose passwords are argon2
hashes (argon2-cffi's defaults: 64 MiB, 3 passes) or plain text, then sends concurrent
logins — right passwords, wrong passwords, and made-up user names — and prints, per kind,
the server's CPU seconds per login and the peak of its resident memory above what it held
before (sampled every 10 ms from /proc). The baseline, measured in the same run, is a GET
of the login page alone (what every try costs before any password is looked at).

An unknown name must cost no more than a known one: that is the point of the check, which
would otherwise tell which names exist, or turn made-up names into a hashing storm.
Throttling is turned off for the run (it would refuse most wrong tries before hashing).

    python bench/auth.py --logins 200 --concurrency 50 --users argon2 plain
    python bench/auth.py --source /tmp/old-checkout   # the same run against another tree
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from _support import free_port
from argon2 import PasswordHasher

RECALL = str(Path(sys.executable).with_name("recall"))
PASSWORD = "bench-password-long-enough"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TICKS = os.sysconf("SC_CLK_TCK")


def users_setting(kind: str, count: int = 5) -> str:
    if kind == "argon2":
        hashed = PasswordHasher().hash(PASSWORD)
        return ",".join(f"user{i}:{hashed}" for i in range(count))
    return ",".join(f"user{i}:{PASSWORD}" for i in range(count))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """The highest resident memory of ``pid`` while the block runs (10 ms samples)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakMemory:
        self.peak = rss_mib(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def recall_command(source: Path | None) -> list[str]:
    if source is None:
        return [RECALL]
    return [sys.executable, "-c", "from cli.main import app; app()"]


@contextmanager
def recall_web(users: str, workdir: Path, source: Path | None = None) -> Iterator[tuple[str, int]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RECALL_DATABASE_URL": f"sqlite:///{workdir / 'auth-bench.db'}",
        "RECALL_PUBLIC_URL": base,
        "RECALL_DASHBOARD_USERS": users,
        "RECALL_LOGIN_FAILURES_PER_USER": "1000000",
        "RECALL_LOGIN_FAILURES_PER_ADDRESS": "1000000",
        "RECALL_LOG_LEVEL": "ERROR",
    }
    env.pop("RECALL_BROKER_URL", None)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    command, cwd = recall_command(source), source or Path.cwd()
    subprocess.run([*command, "db", "upgrade"], env=env, cwd=cwd, check=True, capture_output=True)
    process = subprocess.Popen([*command, "web", "--port", str(port)], env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def login_page_only(base: str) -> Callable[[int], int]:
    def one(_: int) -> int:
        with httpx.Client(base_url=base, timeout=300) as client:
            return client.get("/login").status_code

    return one


def login(base: str, name: Callable[[int], str], password: str) -> Callable[[int], int]:
    def one(i: int) -> int:
        with httpx.Client(base_url=base, timeout=300) as client:
            page = client.get("/login")
            match = CSRF.search(page.text)
            assert match, "no CSRF token on the login page"
            data = {"username": name(i), "password": password, "csrf_token": match.group(1)}
            return client.post("/login", data=data, follow_redirects=False).status_code

    return one


def measure(pid: int, job: Callable[[int], int], count: int, concurrency: int) -> dict[str, float]:
    before_cpu, started = cpu_seconds(pid), time.perf_counter()
    with PeakMemory(pid) as memory, ThreadPoolExecutor(concurrency) as pool:
        base_rss = memory.peak
        codes = list(pool.map(job, range(count)))
    elapsed = time.perf_counter() - started
    return {
        "cpu_ms": (cpu_seconds(pid) - before_cpu) / count * 1000,
        "peak_mib": memory.peak - base_rss,
        "seconds": elapsed,
        "codes": float(len(set(codes))),
        "code": float(codes[0]),
    }


def run(kind: str, count: int, concurrency: int, source: Path | None) -> None:
    with (
        tempfile.TemporaryDirectory() as scratch,
        recall_web(users_setting(kind), Path(scratch), source) as (base, pid),
    ):
        jobs = {
            "GET /login (baseline)": login_page_only(base),
            "right password": login(base, lambda i: f"user{i % 5}", PASSWORD),
            "wrong password": login(base, lambda i: f"user{i % 5}", "not-the-password"),
            "unknown user": login(base, lambda i: f"nobody-{i}", PASSWORD),
        }
        measure(pid, jobs["GET /login (baseline)"], 20, 5)  # warm up
        where = f" ({source})" if source else ""
        print(
            f"\nusers with {kind} passwords{where}: {count} tries per kind, {concurrency} at once"
        )
        print(f"  {'kind':<24} {'status':>6} {'server CPU ms/try':>18} {'peak RSS +MiB':>14}")
        for name, job in jobs.items():
            figures = measure(pid, job, count, concurrency)
            print(
                f"  {name:<24} {int(figures['code']):>6} {figures['cpu_ms']:>18.1f} "
                f"{figures['peak_mib']:>14.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--users", nargs="+", default=["argon2", "plain"])
    parser.add_argument("--source", type=Path, help="run recall from this source tree instead")
    args = parser.parse_args()
    for kind in args.users:
        run(kind, args.logins, args.concurrency, args.source)


if __name__ == "__main__":
    main()
