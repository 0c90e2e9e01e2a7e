"""Replicas left running by a provider that died: found by their pid files, killed at the next start-up.

Replicas lead their own sessions, so they outlive a provider killed with SIGKILL. Each replica
directory holds the watchdog's pid; a pid is trusted only if that process's environment still
names the same directory, so a recycled pid is never killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

__all__ = ["PID_FILE", "reap_orphans", "started_here"]

logger = logging.getLogger(__name__)

PID_FILE = "pid"


def started_here(pid: int, run_dir: Path) -> bool:
    """Whether ``pid`` is the watchdog started for ``run_dir`` (its environment names the lock file there)."""
    marker = f"lock_path={run_dir / '.lock'}".encode()
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return marker in environ.split(b"\0")


def reap_orphans(run_root: Path) -> int:
    """Kill the process groups of replicas recorded under ``run_root``; returns how many were found."""
    reaped = 0
    for pid_file in run_root.glob(f"*/*/*/{PID_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text())
            if started_here(pid, pid_file.parent):
                os.killpg(pid, signal.SIGKILL)
                logger.warning("killed replica %s (pid %d) left by a previous provider", pid_file.parent.name, pid)
                reaped += 1
    return reaped
