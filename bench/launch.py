"""Benchmark: `recall launch` of a 1,000,000-row USERS.csv into PostgreSQL, no workers.

Prints rows per second and peak memory of the launch process (and its validation workers),
next to PostgreSQL's own COPY of the same file into a plain table in the same run.

    .venv/bin/python bench/launch.py [--rows 1000000] [--admin-url postgresql://...]

Targets (issue 2): ≥ 20,000 rows/s and < 300 MB peak for a million rows; issue 16: a
million rows in under 30 s on a 2-core machine. The load average before the run is printed
too: on a shared machine the wall time says more about the neighbours than about recall,
while rows per CPU-second (launch tree + PostgreSQL backend) do not.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "bench" / "output"
TARGET_ROWS_PER_SECOND = 20_000
TARGET_PEAK_MB = 300
TARGET_SECONDS_PER_MILLION = 30
ZONES = ["America/New_York", "Europe/London", "Asia/Shanghai", "America/Los_Angeles"]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """Realistic mix: formatted and E.164 phones, missing phones or emails, two locales."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["external_id", "name", "phone", "email", "locale", "timezone", "risk_tier"]
        )
        for i in range(rows):
            writer.writerow(_row(rng, i))


def _row(rng: random.Random, i: int) -> list[str]:
    kind = i % 4
    subscriber = 2_000_000 + i
    phone = [
        f"+1212{subscriber:07d}",
        f"(415) {subscriber // 10000:03d}-{subscriber % 10000:04d}",
        f"+86 138 {i // 10000:04d} {i % 10000:04d}",
        f"+44 7911 {100000 + i % 100000:06d}",
    ][kind]
    if rng.random() < 0.05:
        phone = ""
    email = "" if phone and rng.random() < 0.1 else f"user{i}@example{i % 500}.com"
    locale = "zh-CN" if kind == 2 else "en-US" if kind < 2 else "en-GB"
    return [f"B{i:09d}", f"User {i}", phone, email, locale, ZONES[kind], str(1 + i % 3)]


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def database_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


class MemorySampler(threading.Thread):
    """Peak RSS and PSS summed over a process and its descendants, from /proc; and the CPU
    time of the PostgreSQL backends serving ``database`` (the server's share of the work)."""

    def __init__(self, pid: int, admin_url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_rss, self.peak_pss, self.done = pid, 0, 0, False
        self.admin_url, self.database = admin_url, database
        self.backend_cpu: dict[int, float] = {}

    def run(self) -> None:
        with admin(self.admin_url) as conn:
            while not self.done:
                self._sample_memory()
                self._sample_backends(conn)
                time.sleep(0.1)

    def _sample_backends(self, conn: psycopg.Connection) -> None:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
        for (pid,) in conn.execute(query, (self.database,)).fetchall():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # not on this machine, or gone
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            self.backend_cpu[pid] = ticks / os.sysconf("SC_CLK_TCK")

    def _sample_memory(self) -> None:
        rss = pss = 0
        for pid in _tree(self.pid):
            rss += _field(f"/proc/{pid}/status", "VmRSS:")
            pss += _field(f"/proc/{pid}/smaps_rollup", "Pss:")
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)


def _tree(pid: int) -> list[int]:
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for task in Path(f"/proc/{pids[i]}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
        i += 1
    return pids


def _field(path: str, name: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])  # kB
    except OSError:
        pass
    return 0


def time_launch(
    url: str, users: Path, admin_url: str, database: str
) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "RECALL_DATABASE_URL": url}
    env.pop("RECALL_BROKER_URL", None)
    recall = [sys.executable, "-m", "cli.main"]
    subprocess.run([*recall, "db", "upgrade"], env=env, check=True, capture_output=True)
    campaign = ROOT / "examples" / "campaign.yaml"
    errors = (OUTPUT / "launch.stderr").open("wb")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(
        [*recall, "launch", str(campaign), "--users", str(users), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=errors,
    )
    sampler = MemorySampler(child.pid, admin_url, database)
    sampler.start()
    stdout, _ = child.communicate()
    elapsed = time.perf_counter() - started
    sampler.done = True
    errors.close()
    if child.returncode != 0:
        tail = (OUTPUT / "launch.stderr").read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"recall launch failed ({child.returncode}): " + "\n".join(tail))
    print("launch printed", stdout.decode().strip())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    memory = {
        "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "postgres_cpu_seconds": sum(sampler.backend_cpu.values()),
        "maxrss_one_process_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "peak_rss_tree_mb": sampler.peak_rss / 1024,
        "peak_pss_tree_mb": sampler.peak_pss / 1024,
    }
    return elapsed, memory


def time_copy(url: str, users: Path) -> float:
    """PostgreSQL's own COPY of the same file into a plain table: the floor to compare with."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE copy_baseline (external_id text, name text, phone text, email text,"
            " locale text, timezone text, risk_tier int)"
        )
        started = time.perf_counter()
        try:
            conn.execute(f"COPY copy_baseline FROM '{users}' (FORMAT csv, HEADER)")
        except psycopg.Error:  # the server cannot read the file: stream it instead
            with (
                conn.cursor() as cur,
                cur.copy("COPY copy_baseline FROM STDIN (FORMAT csv, HEADER)") as copy,
                users.open("rb") as handle,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
        return time.perf_counter() - started


def count_cases(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM recall_case").fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "RECALL_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--database", default=f"recall_bench_launch_{os.getpid()}")
    args = parser.parse_args()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    users = OUTPUT / f"users_{args.rows}.csv"
    if not users.exists():
        started = time.perf_counter()
        generate(users, args.rows)
        print(f"generated {users} in {time.perf_counter() - started:.1f}s")
    print(f"load average before the run : {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
    name = args.database
    with admin(args.admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = database_url(args.admin_url, name)
    try:
        launch_s, memory = time_launch(url, users, args.admin_url, name)
        cases = count_cases(url)
        copy_s = time_copy(url, users)
    finally:
        with admin(args.admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(args.rows, cases, launch_s, copy_s, memory)


def report(rows: int, cases: int, launch_s: float, copy_s: float, memory: dict[str, float]) -> None:
    launch_rate, copy_rate = rows / launch_s, rows / copy_s
    peak = memory["peak_pss_tree_mb"]
    print(f"rows in file                : {rows:,} (cases created: {cases:,})")
    print(f"recall launch               : {launch_s:8.1f} s  {launch_rate:10,.0f} rows/s")
    print(f"PostgreSQL COPY (same file) : {copy_s:8.1f} s  {copy_rate:10,.0f} rows/s")
    print(f"launch time / COPY time     : {launch_s / copy_s:8.1f} x")
    print(
        f"launch rate / target rate   : {launch_rate / TARGET_ROWS_PER_SECOND:8.2f}"
        f" (target {TARGET_ROWS_PER_SECOND:,} rows/s)"
    )
    million_s = launch_s * 1_000_000 / rows
    print(
        f"time per million rows       : {million_s:8.1f} s"
        f" (target < {TARGET_SECONDS_PER_MILLION} s; ratio "
        f"{million_s / TARGET_SECONDS_PER_MILLION:.2f})"
    )
    print(
        f"peak PSS, launch + workers  : {peak:8.0f} MB"
        f" (target < {TARGET_PEAK_MB} MB; ratio {peak / TARGET_PEAK_MB:.2f})"
    )
    print(
        f"peak RSS sum (counts shared pages once per process): {memory['peak_rss_tree_mb']:.0f} MB"
    )
    print(f"largest single process maxrss: {memory['maxrss_one_process_mb']:.0f} MB")
    cpu = memory["cpu_seconds"]
    print(f"launch CPU time (tree)      : {cpu:8.1f} s  {rows / cpu:10,.0f} rows per CPU-second")
    server = memory["postgres_cpu_seconds"]
    print(f"PostgreSQL backend CPU time : {server:8.1f} s")
    print(f"client + server CPU         : {rows / (cpu + server):10,.0f} rows per CPU-second")
    print(f"load average after the run  : {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")


if __name__ == "__main__":
    main()
