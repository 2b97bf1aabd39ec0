"""Stopping the real processes tests start (recall web, workers, scheduler)."""

from __future__ import annotations

import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if it has not exited within ``timeout``."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
