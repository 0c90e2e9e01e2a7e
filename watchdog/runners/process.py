"""Starting fprocess in its own process group, and killing that whole group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence

__all__ = ["Command", "describe_exit", "kill_group", "spawn"]

PIPE = asyncio.subprocess.PIPE


class Command:
    """fprocess, prepared once: its words, its resolved executable and the environment it inherits."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        """Resolve ``argv[0]`` on PATH and encode ``env`` now, rather than on every call."""
        self.argv = list(argv)
        self.executable = shutil.which(self.argv[0]) or self.argv[0]
        self.env = {os.fsencode(name): os.fsencode(value) for name, value in env.items()}


async def spawn(
    command: Command, env: Mapping[bytes, bytes] | None = None, *, stderr: int = PIPE
) -> asyncio.subprocess.Process:
    """Start ``command`` directly (no shell) as the leader of a new session, with pipes on stdin and stdout.

    A session of its own lets :func:`kill_group` reach everything the function started.
    """
    return await asyncio.create_subprocess_exec(
        *command.argv,
        executable=command.executable,
        stdin=PIPE,
        stdout=PIPE,
        stderr=stderr,
        env=command.env if env is None else env,
        start_new_session=True,
    )


def kill_group(process: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    """Signal the process group ``process`` leads; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def describe_exit(returncode: int) -> str:
    """Go's wording of an unsuccessful exit: ``exit status 2`` or ``signal: killed``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    name = signal.strsignal(-returncode) or f"signal {-returncode}"
    return f"signal: {name.lower()}"
