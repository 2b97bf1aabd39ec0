"""Drives `recall run` twice — interrupted with Ctrl-C mid-campaign, then resumed — against
one provider sandbox that outlives both runs, and writes what happened as JSON.

Run by tests/cli/test_run.py, inside a network namespace of its own when the machine allows
(``unshare -n``): there only loopback exists and nothing (no Redis, no PostgreSQL) listens,
so the runs prove they need neither. ``python run_driver.py OUT_DIR USERS_CSV CAMPAIGN``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from channels.sandbox.config import SandboxConfig  # noqa: E402
from channels.sandbox.runner import SandboxThread  # noqa: E402

RECALL = [sys.executable, "-m", "cli.main"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_reachable() -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


def interrupted_run(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Start the run, wait until it is sending, let it work a little, then Ctrl-C."""
    run = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert run.stderr is not None
    deadline = time.monotonic() + 120
    seen = []
    for line in run.stderr:
        seen.append(line)
        if "Ctrl-C" in line or time.monotonic() > deadline:
            break
    time.sleep(4)
    run.send_signal(signal.SIGINT)
    _, rest = run.communicate(timeout=90)
    return run.returncode, "".join(seen) + rest


def main(out_dir: Path, users: Path, campaign: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RECALL_DATABASE_URL": f"sqlite:///{out_dir / 'run.db'}",
        "RECALL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # Anything that tried the broker setting would find no server here.
        "RECALL_BROKER_URL": "redis://127.0.0.1:9/0",
        "COLUMNS": "200",
        # The sandbox stands in for Twilio through its API base, so the run counts it as
        # real; it is no long code, whose 1 segment/s would make 300 texts take minutes.
        "RECALL_SMS_SENDER_TYPE": "short_code",
    }
    config = SandboxConfig.from_settings(None, public_url=env["RECALL_PUBLIC_URL"])
    with SandboxThread(config) as sandbox:
        env.update(sandbox.settings_env())
        command = [*RECALL, "run", str(campaign), "--users", str(users), "--port", str(port)]
        first_code, first_err = interrupted_run(command, env)
        status = subprocess.run(
            [*RECALL, "status", "1", "--json"], env=env, capture_output=True, text=True
        )
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        sandbox.configure(users=False)
        messages = sandbox.state.snapshot(sandbox.state.messages)
    result = {
        "redis_reachable": redis_reachable(),
        "first": {"code": first_code, "stderr": first_err[-4000:]},
        "after_first": json.loads(status.stdout) if status.returncode == 0 else status.stderr,
        "second": {"code": second.returncode, "stdout": second.stdout, "stderr": second.stderr},
        "messages": messages,
    }
    (out_dir / "result.json").write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    if os.environ.get("RUN_DRIVER_LOOPBACK_UP"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
