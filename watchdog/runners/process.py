"""Starting fprocess in its own process group, and killing that whole group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Command", "Finished", "describe_exit", "kill_group", "run_buffered_portable", "spawn"]

PIPE = asyncio.subprocess.PIPE
STDOUT = asyncio.subprocess.STDOUT


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


@dataclass(frozen=True, slots=True)
class Finished:
    """A finished run: the exit status (negative: killed by that signal), stdout (merged) and stderr."""

    returncode: int
    stdout: bytes
    stderr: bytes


async def run_buffered_portable(
    command: Command, env: Mapping[bytes, bytes], stdin: bytes, *, merge_stderr: bool, kill_after: float | None
) -> Finished | None:
    """Run ``command`` once with ``stdin`` through asyncio's subprocess API.

    Returns None when it ran past ``kill_after`` seconds and its process group was killed.

    The fallback for platforms without ``pidfd_open``; see :mod:`watchdog.runners.spawn`.
    """
    process = await spawn(command, env, stderr=STDOUT if merge_stderr else PIPE)
    try:
        async with asyncio.timeout(kill_after):
            stdout, stderr = await process.communicate(stdin)
    except TimeoutError:
        kill_group(process.pid)
        await process.wait()
        return None
    except BaseException:
        kill_group(process.pid)  # cancelled by shutdown: leave no function running behind us
        raise
    return Finished(process.returncode if process.returncode is not None else -1, stdout, stderr or b"")


def kill_group(leader: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group ``leader`` leads; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, sig)


def describe_exit(returncode: int) -> str:
    """Go's wording of an unsuccessful exit: ``exit status 2`` or ``signal: killed``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    name = signal.strsignal(-returncode) or f"signal {-returncode}"
    return f"signal: {name.lower()}"
