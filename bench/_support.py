"""What every benchmark needs: a free port and a PostgreSQL database of its own."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.db import make_engine  # noqa: E402
from pipeline.migrations import create_schema  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(admin_url: str, name: str) -> str:
    """Create (or recreate) database ``name`` with recall's tables; returns its URL."""
    drop_database(admin_url, name)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    return url


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- where the CPU goes ------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str, float]]:
    """(pid, parent pid, command, CPU seconds incl. reaped children) of every live process."""
    # Read twice a second while the bench runs, so plain os calls rather than pathlib's glob:
    # on a busy machine the scan was an eighth of the bench process's own CPU.
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                head, _, rest = handle.read().rpartition(")")
        except OSError:
            continue  # gone meanwhile
        fields = rest.split()
        # utime, stime, cutime, cstime: a reaped child's CPU moves into its parent's c-fields,
        # so short-lived PostgreSQL backends stay counted (in the postmaster).
        cpu = sum(int(value) for value in fields[11:15]) / _TICKS
        out.append((int(name), int(fields[1]), head.partition("(")[2], cpu))
    return out


def cpu_seconds(roots: dict[str, int], commands: dict[str, str]) -> dict[str, float]:
    """CPU seconds used so far by each role: a process tree (``roots``: role → pid) or every
    process whose command starts with a name (``commands``: role → name); ``machine`` is the
    whole machine's busy time from /proc/stat. Subtract two readings to get a span's share."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, parent, _, _ in table:
        children.setdefault(parent, []).append(pid)
    cpu_of = {pid: cpu for pid, _, _, cpu in table}
    used: dict[str, float] = {}
    owned = set(roots.values())
    for role, root in roots.items():
        tree, total = [root], 0.0
        while tree:
            pid = tree.pop()
            total += cpu_of.get(pid, 0.0)
            # Another role's tree inside this one (the bench starts the servers) is theirs.
            tree += [child for child in children.get(pid, []) if child not in owned]
        used[role] = total
    for role, name in commands.items():
        used[role] = sum(cpu for _, _, command, cpu in table if command.startswith(name))
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    used["machine"] = (sum(values) - values[3] - values[4]) / _TICKS  # all but idle, iowait
    return used


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class PostgresShare:
    """CPU of the PostgreSQL processes that work for one database, apart from the rest of a
    server other programs share: its backends (their title names the database) and the
    server's background writers (checkpointer, WAL and background writer: shared, counted
    whole so recall's own figure errs high). A backend that exits takes its CPU into the
    postmaster's reaped-children total, where it cannot be told apart, so ``sample`` keeps
    the last reading of every backend seen; call it now and then during the run."""

    BACKGROUND = ("checkpointer", "walwriter", "background writer")

    def __init__(self, database: str) -> None:
        self.database = database
        self._seen: dict[int, tuple[str, float]] = {}

    def sample(self) -> None:
        for pid, _, command, cpu in _processes():
            if command != "postgres":
                continue
            title = _cmdline(pid)
            if f" {self.database} " in title:
                self._seen[pid] = ("ours", cpu)
            elif any(name in title for name in self.BACKGROUND):
                self._seen[pid] = ("background", cpu)

    def seconds(self) -> dict[str, float]:
        self.sample()
        used = {"ours": 0.0, "background": 0.0}
        for kind, cpu in self._seen.values():
            used[kind] += cpu
        return used
