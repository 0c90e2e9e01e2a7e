"""Both ways of running fprocess once behave alike: the pidfd fast path and the portable fallback."""

import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import pytest

from tests.support.polling import eventually
from watchdog.runners import spawn
from watchdog.runners.process import Command, Finished, run_buffered_portable

Run = Callable[..., Awaitable[Finished | None]]


@pytest.fixture(params=["pidfd", "portable"])
def run(request: pytest.FixtureRequest) -> Run:
    if request.param == "pidfd":
        if not spawn.available():
            pytest.fail("the pidfd fast path is the one production uses on Linux; it must be available here")
        return spawn.run_buffered
    return run_buffered_portable


def python(code: str, env: Mapping[str, str] | None = None) -> Command:
    return Command([sys.executable, "-c", code], dict(os.environ) if env is None else env)


async def test_large_body_round_trips(run: Run) -> None:
    body = os.urandom(3 * 1024 * 1024)  # far beyond a pipe's buffer: writing and reading must interleave
    command = Command(["cat"], dict(os.environ))
    finished = await run(command, command.env, body, merge_stderr=True, kill_after=None)
    assert finished == Finished(0, body, b"")


async def test_stderr_kept_apart_or_merged(run: Run) -> None:
    command = python("import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); sys.exit(5)")
    apart = await run(command, command.env, b"", merge_stderr=False, kill_after=None)
    assert apart == Finished(5, b"out\n", b"err\n")
    merged = await run(command, command.env, b"", merge_stderr=True, kill_after=None)
    assert merged == Finished(5, b"out\nerr\n", b"")


async def test_env_is_exactly_what_is_given(run: Run) -> None:
    command = python("import os; print(sorted(k for k in os.environ if k.startswith('ONLY')))", env={})
    finished = await run(command, {b"ONLY_THIS": b"1"}, b"", merge_stderr=True, kill_after=None)
    assert finished is not None
    assert finished.stdout == b"['ONLY_THIS']\n"


async def test_killed_by_a_signal_is_a_negative_status(run: Run) -> None:
    command = python("import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    finished = await run(command, command.env, b"", merge_stderr=True, kill_after=None)
    assert finished is not None
    assert finished.returncode == -15


async def test_kill_after_kills_the_group(run: Run, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = Command(["sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"], dict(os.environ))
    assert await run(command, command.env, b"", merge_stderr=True, kill_after=0.3) is None
    background = int(pid_file.read_text())

    async def dead() -> bool | None:
        return True if not _alive(background) else None

    await eventually(dead)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


async def test_a_missing_executable_raises(run: Run) -> None:
    command = Command(["/nonexistent/fprocess"], {})
    with pytest.raises(FileNotFoundError):
        await run(command, command.env, b"", merge_stderr=True, kill_after=None)


async def test_a_function_that_does_not_read_stdin(run: Run) -> None:
    command = Command(["true"], dict(os.environ))
    finished = await run(command, command.env, b"x" * 1024 * 1024, merge_stderr=True, kill_after=None)
    assert finished == Finished(0, b"", b"")


async def test_sigpipe_is_back_to_its_default_in_the_function(run: Run) -> None:
    # Python ignores SIGPIPE for itself; a pipeline in the function must not inherit that.
    command = Command(["sh", "-c", "yes | head -n 1"], dict(os.environ))
    finished = await run(command, command.env, b"", merge_stderr=True, kill_after=None)
    assert finished == Finished(0, b"y\n", b"")
