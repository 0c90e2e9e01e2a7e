"""Local replicas as processes: restarts, output capture, balancing, rolling, stopping and reaping."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from provider.errors import FunctionNotFound, NoReplicaAvailable
from provider.local import Instance, LocalProvider
from provider.local.orphans import started_here
from provider.types import LogMessage, LogRequest
from tests.support.local_provider import invoke, none_alive, one_instance, script, settings_for, truthy
from tests.support.polling import eventually
from tests.support.processes import alive
from tests.support.provider_contract import NAMESPACE, READY_WITHIN, echo, printenv, replicas_settle

pytestmark = pytest.mark.integration


async def test_a_crashed_replica_is_restarted(local: LocalProvider, caplog: pytest.LogCaptureFixture) -> None:
    await local.deploy(echo())
    first = await one_instance(local, "echo")
    assert first.pid is not None
    caplog.set_level(logging.WARNING)
    os.kill(first.pid, signal.SIGKILL)

    async def restarted() -> Instance | None:
        [now] = local.instances("echo", NAMESPACE)
        return now if now.available and now.pid not in (None, first.pid) else None

    again = await eventually(restarted, within=READY_WITHIN, every=0.05)
    assert (again.id, again.url, again.restarts) == (first.id, first.url, 1)
    assert await invoke(local, "echo", b"back") == b"back"
    assert f"function echo.{NAMESPACE}: replica {first.id} exited" in caplog.text


LOUD = """
import sys
body = sys.stdin.read()
print("said " + body, file=sys.stderr, flush=True)
print(body)
"""


async def read_logs(provider: LocalProvider, **query: object) -> list[LogMessage]:
    request = LogRequest.model_validate({"name": "loud", "namespace": NAMESPACE, **query})
    return [m async for m in provider.logs(request)]


async def test_logs_capture_replica_output_with_tail_since_instance_and_follow(
    local: LocalProvider, tmp_path: Path
) -> None:
    fprocess = script(tmp_path, "loud.py", LOUD)
    await local.deploy(echo("loud", envProcess=fprocess, envVars={"combine_output": "false"}))
    instance = await one_instance(local, "loud")
    for word in (b"one", b"two", b"three"):
        assert await invoke(local, "loud", word) == word + b"\n"

    async def said_three() -> list[LogMessage] | None:
        lines = await read_logs(local)
        return lines if any("said three" in m.text for m in lines) else None

    lines = await eventually(said_three)
    assert {(m.name, m.namespace, m.instance) for m in lines} == {("loud", NAMESPACE, instance.id)}
    assert [m.timestamp for m in lines] == sorted(m.timestamp for m in lines)
    assert await read_logs(local, tail=2) == lines[-2:]
    assert await read_logs(local, tail=0) == lines
    assert await read_logs(local, instance="loud-other") == []
    assert await read_logs(local, instance=instance.id) == lines
    [two] = [m for m in lines if "said two" in m.text]
    since = await read_logs(local, since=two.timestamp)
    assert since[0].timestamp >= two.timestamp
    assert any("said two" in m.text for m in since)
    assert not any("said one" in m.text for m in since)

    follower = local.logs(LogRequest(name="loud", namespace=NAMESPACE, follow=True, tail=1))
    assert await anext(follower) == lines[-1]
    await invoke(local, "loud", b"four")

    async def next_said() -> LogMessage:
        while "said" not in (message := await anext(follower)).text:
            pass
        return message

    assert "said four" in (await asyncio.wait_for(next_said(), READY_WITHIN)).text
    await follower.aclose()


LONG_LINE = """
import sys
sys.stdout.write("x" * (2 << 20) + "\\nafter\\n")
"""


async def test_overlong_output_lines_are_dropped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "long.py").write_text(LONG_LINE + "import time\ntime.sleep(60)\n")
    provider = LocalProvider(
        settings_for(tmp_path / "state"), watchdog_command=[sys.executable, str(tmp_path / "long.py")]
    )
    await provider.startup()
    try:
        await provider.deploy(echo())

        async def after() -> list[str] | None:
            lines = [m.text async for m in provider.logs(LogRequest(name="echo", namespace=NAMESPACE))]
            return lines if "after" in lines else None

        lines = await eventually(after, within=READY_WITHIN)
        assert "[faasq: line longer than 1 MiB dropped]" in lines
        assert max(len(line) for line in lines) <= 2 << 20
        assert provider.instances("echo", NAMESPACE)[0].restarts == 0
    finally:
        await provider.shutdown()


async def test_calls_keep_succeeding_through_an_update_and_a_scale_down(local: LocalProvider) -> None:
    await local.deploy(printenv("env", {"V": "1"}, labels={"com.openfaas.scale.min": "2"}))
    await replicas_settle(local, "env", 2)
    outputs: list[bytes] = []
    calling = asyncio.Event()

    async def keep_calling() -> None:
        while True:
            outputs.append(await invoke(local, "env"))
            calling.set()

    async with asyncio.TaskGroup() as group:
        caller = group.create_task(keep_calling())
        await calling.wait()
        await local.update(printenv("env", {"V": "2"}))
        await eventually(lambda: truthy(b"V=2" in outputs[-1]), within=READY_WITHIN)
        await local.scale("env", NAMESPACE, 1)
        await replicas_settle(local, "env", 1)
        count = len(outputs)
        await eventually(lambda: truthy(len(outputs) > count + 5))
        caller.cancel()
    # Every call succeeded (invoke asserts 200; a refused connection fails the group), from either version.
    assert {line for body in outputs for line in body.splitlines() if line.startswith(b"V=")} == {b"V=1", b"V=2"}


async def test_scaling_down_stops_the_newest_replicas(local: LocalProvider) -> None:
    await local.deploy(echo())
    [oldest] = (await one_instance(local, "echo"),)
    await local.scale("echo", NAMESPACE, 3)
    await replicas_settle(local, "echo", 3)
    await local.scale("echo", NAMESPACE, 1)
    await replicas_settle(local, "echo", 1)
    assert [i.id for i in local.instances("echo", NAMESPACE)] == [oldest.id]


async def test_resolve_balances_across_replicas(local: LocalProvider) -> None:
    await local.deploy(echo(labels={"com.openfaas.scale.min": "3"}))
    await replicas_settle(local, "echo", 3)
    urls = [await local.resolve("echo", NAMESPACE) for _ in range(6)]
    assert len(set(urls)) == 3
    assert urls[:3] == urls[3:]
    assert sorted(set(urls)) == sorted(i.url for i in local.instances("echo", NAMESPACE))


async def test_scale_from_zero_gives_up_after_the_ready_timeout(tmp_path: Path) -> None:
    never_ready = [sys.executable, "-c", "import time; time.sleep(60)"]
    provider = LocalProvider(settings_for(tmp_path / "state", ready_timeout="0.3s"), watchdog_command=never_ready)
    await provider.startup()
    try:
        await provider.deploy(echo())
        await provider.scale("echo", NAMESPACE, 0)
        with pytest.raises(NoReplicaAvailable, match=r"within 0\.3s"):
            await provider.resolve("echo", NAMESPACE)
        assert (await provider.get("echo", NAMESPACE)).replicas == 1
    finally:
        await provider.shutdown()


async def test_a_call_waiting_for_a_deleted_function_is_not_found(tmp_path: Path) -> None:
    never_ready = [sys.executable, "-c", "import time; time.sleep(60)"]
    provider = LocalProvider(settings_for(tmp_path / "state"), watchdog_command=never_ready)
    await provider.startup()
    try:
        await provider.deploy(echo())
        waiting = asyncio.create_task(provider.resolve("echo", NAMESPACE))
        await eventually(lambda: truthy(len(provider.instances("echo", NAMESPACE)) == 1))
        assert not waiting.done()
        await provider.delete("echo", NAMESPACE)
        with pytest.raises(FunctionNotFound):
            await asyncio.wait_for(waiting, 5)
    finally:
        await provider.shutdown()


IGNORE_TERM = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("child", child.pid, flush=True)
time.sleep(60)
"""


async def test_shutdown_kills_replicas_that_ignore_sigterm_and_their_children(tmp_path: Path) -> None:
    stubborn = [sys.executable, str(tmp_path / "stubborn.py")]
    (tmp_path / "stubborn.py").write_text(IGNORE_TERM)
    provider = LocalProvider(settings_for(tmp_path / "state", replica_stop_timeout="0.2s"), watchdog_command=stubborn)
    await provider.startup()
    try:
        await provider.deploy(echo())

        async def child_pid() -> int | None:
            lines = [m.text async for m in provider.logs(LogRequest(name="echo", namespace=NAMESPACE))]
            return next((int(line.split()[1]) for line in lines if line.startswith("child ")), None)

        child = await eventually(child_pid, within=READY_WITHIN)
        [instance] = provider.instances("echo", NAMESPACE)
        assert instance.pid is not None
        assert not instance.available
    finally:
        await provider.shutdown()
    assert not alive(instance.pid)
    await eventually(lambda: none_alive([child]))
    assert not (tmp_path / "state" / "run" / NAMESPACE / "echo" / instance.id).exists()


async def test_shutdown_leaves_no_process_and_keeps_state(tmp_path: Path) -> None:
    provider = LocalProvider(settings_for(tmp_path / "state"))
    await provider.startup()
    await provider.deploy(echo(labels={"com.openfaas.scale.min": "2"}))
    await replicas_settle(provider, "echo", 2)
    pids = [i.pid for i in provider.instances("echo", NAMESPACE) if i.pid is not None]
    assert len(pids) == 2
    await provider.shutdown()
    assert [pid for pid in pids if alive(pid)] == []
    assert (tmp_path / "state" / "functions" / NAMESPACE / "echo.json").is_file()


def orphan(run_dir: Path, *, lock_dir: Path) -> subprocess.Popen[bytes]:
    """A process as a dead provider would leave it: own session, pid file in its replica directory."""
    run_dir.mkdir(parents=True)
    env = {**os.environ, "lock_path": str(lock_dir / ".lock")}
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True)
    (run_dir / "pid").write_text(str(process.pid))
    return process


async def test_startup_kills_replicas_left_by_a_provider_that_died(tmp_path: Path) -> None:
    run = tmp_path / "state" / "run" / NAMESPACE / "echo"
    left = orphan(run / "echo-1", lock_dir=run / "echo-1")
    stranger = orphan(run / "echo-2", lock_dir=tmp_path)  # a recycled pid: not ours, never killed
    provider = LocalProvider(settings_for(tmp_path / "state"))
    try:
        await provider.startup()

        async def exit_code() -> int | None:
            return left.poll()

        assert await eventually(exit_code) == -signal.SIGKILL
        assert stranger.poll() is None
        assert not run.exists()
    finally:
        await provider.shutdown()
        stranger.kill()
        stranger.wait()
        left.wait()


async def test_replicas_record_their_pid(local: LocalProvider, tmp_path: Path) -> None:
    await local.deploy(echo())
    instance = await one_instance(local, "echo")
    run_dir = tmp_path / "state" / "run" / NAMESPACE / "echo" / instance.id
    assert (run_dir / "pid").read_text() == str(instance.pid)
    assert instance.pid is not None
    assert started_here(instance.pid, run_dir)
    assert not started_here(instance.pid, tmp_path)
