"""The local provider: the provider contract, plus what only local replicas do (restarts, state, logs, files)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from provider.config import ProviderSettings
from provider.errors import DeployFailed, FunctionNotFound, InvalidRequest, NoReplicaAvailable
from provider.local import LocalProvider
from provider.local.replica import Instance
from provider.types import LogMessage, LogRequest, Secret
from tests.integration.provider.contract import (
    NAMESPACE,
    READY_WITHIN,
    ProviderContract,
    echo,
    printenv,
    replicas_settle,
)
from tests.support import eventually

pytestmark = pytest.mark.integration


def settings_for(state_dir: Path, **overrides: object) -> ProviderSettings:
    values: dict[str, object] = {
        "state_dir": state_dir,
        "ready_timeout": timedelta(seconds=READY_WITHIN),
        "replica_stop_timeout": timedelta(seconds=5),
        **overrides,
    }
    return ProviderSettings.model_validate(values)


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalProvider]:
    provider = LocalProvider(settings_for(tmp_path / "state"))
    await provider.startup()
    try:
        yield provider
    finally:
        await provider.shutdown()


class TestLocalProviderContract(ProviderContract):
    @pytest.fixture
    def provider(self, local: LocalProvider) -> LocalProvider:
        return local


def script(tmp_path: Path, name: str, source: str) -> str:
    """An fprocess running a small Python file with this interpreter."""
    path = tmp_path / name
    path.write_text(source)
    return f"{sys.executable} {path}"


async def call(url: str, body: bytes = b"") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{url}/", content=body)


async def invoke(provider: LocalProvider, name: str, body: bytes = b"") -> bytes:
    response = await call(await provider.resolve(name, NAMESPACE), body)
    assert response.status_code == 200, response.text
    return response.content


def alive(pid: int) -> bool:
    """Whether the process runs; a zombie waiting for PID 1 to reap it does not count."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


async def one_instance(provider: LocalProvider, name: str) -> Instance:
    await replicas_settle(provider, name, 1)
    [instance] = provider.instances(name, NAMESPACE)
    assert instance.pid is not None
    return instance


async def test_a_deployment_needs_a_process(local: LocalProvider) -> None:
    with pytest.raises(InvalidRequest, match="set fprocess/envProcess"):
        await local.deploy(echo(envProcess=None))
    with pytest.raises(InvalidRequest, match="set fprocess/envProcess"):
        await local.deploy(echo(envProcess="  "))
    assert await local.list_functions(NAMESPACE) == []


async def test_info_names_the_local_provider(local: LocalProvider) -> None:
    info = await local.info()
    assert (info.provider, info.orchestration) == ("faasq-local", "local")
    assert await local.namespaces() == [NAMESPACE]


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


async def test_functions_survive_a_provider_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = LocalProvider(settings_for(state))
    await first.startup()
    try:
        await first.deploy(echo(envVars={"K": "v"}))
        await first.scale("echo", NAMESPACE, 2)
        before = await replicas_settle(first, "echo", 2)
    finally:
        await first.shutdown()
    second = LocalProvider(settings_for(state))
    await second.startup()
    try:
        after = await replicas_settle(second, "echo", 2)
        assert (after.created_at, after.env_vars, after.env_process) == (before.created_at, {"K": "v"}, "cat")
        assert await invoke(second, "echo", b"still here") == b"still here"
    finally:
        await second.shutdown()


async def test_a_deleted_function_stays_deleted_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = LocalProvider(settings_for(state))
    await first.startup()
    try:
        await first.deploy(echo("kept"))
        await first.deploy(echo("gone"))
        await first.delete("gone", NAMESPACE)
    finally:
        await first.shutdown()
    second = LocalProvider(settings_for(state))
    await second.startup()
    try:
        assert [f.name for f in await second.list_functions(NAMESPACE)] == ["kept"]
    finally:
        await second.shutdown()


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


READ_SECRET = """
import os, stat, sys
path = os.path.join(os.environ["secret_mount_path"], "api-key")
mode = stat.S_IMODE(os.stat(path).st_mode)
sys.stdout.write(open(path).read() + " " + oct(mode))
"""


async def test_secrets_reach_the_function_as_private_files(local: LocalProvider, tmp_path: Path) -> None:
    await local.create_secret(Secret(name="api-key", namespace=NAMESPACE, value="s3cret"))
    stored = tmp_path / "state" / "secrets" / NAMESPACE / "api-key"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    fprocess = script(tmp_path, "read_secret.py", READ_SECRET)
    await local.deploy(echo("reader", envProcess=fprocess, secrets=["api-key"]))
    assert await invoke(local, "reader") == b"s3cret 0o600"
    await local.update_secret(Secret(name="api-key", namespace=NAMESPACE, value="rotated"))
    assert await invoke(local, "reader") == b"rotated 0o600"


async def test_env_vars_and_watchdog_settings_reach_the_replica(local: LocalProvider) -> None:
    await local.deploy(echo("env", envProcess="env", envVars={"GREETING": "hello", "write_debug": "false"}))
    output = (await invoke(local, "env")).decode().splitlines()
    assert "GREETING=hello" in output
    assert "write_debug=false" in output
    assert "bind_address=127.0.0.1" in output


async def test_resolve_balances_across_replicas(local: LocalProvider) -> None:
    await local.deploy(echo(labels={"com.openfaas.scale.min": "3"}))
    await replicas_settle(local, "echo", 3)
    urls = [await local.resolve("echo", NAMESPACE) for _ in range(6)]
    assert len(set(urls)) == 3
    assert urls[:3] == urls[3:]
    assert sorted(set(urls)) == sorted(i.url for i in local.instances("echo", NAMESPACE))


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
        await eventually(lambda: _true(b"V=2" in outputs[-1]), within=READY_WITHIN)
        await local.scale("env", NAMESPACE, 1)
        await replicas_settle(local, "env", 1)
        count = len(outputs)
        await eventually(lambda: _true(len(outputs) > count + 5))
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


async def test_a_failing_disk_is_a_deploy_failure_and_changes_nothing(local: LocalProvider, tmp_path: Path) -> None:
    (tmp_path / "state" / "functions").write_text("not a directory")
    with pytest.raises(DeployFailed, match="cannot store function 'echo'"):
        await local.deploy(echo())
    assert await local.list_functions(NAMESPACE) == []


async def test_one_state_dir_serves_one_provider(local: LocalProvider, tmp_path: Path) -> None:
    with pytest.raises(DeployFailed, match="in use by another local provider"):
        await LocalProvider(settings_for(tmp_path / "state")).startup()


async def test_startup_skips_records_it_cannot_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "state" / "functions" / NAMESPACE
    folder.mkdir(parents=True)
    stored = {"deployment": {"service": "bad", "envProcess": "cat", "labels": {"com.openfaas.scale.min": "x"}}}
    (folder / "bad.json").write_text(json.dumps({**stored, "replicas": 1, "createdAt": "2026-01-01T00:00:00Z"}))
    (folder / "junk.json").write_text("{")
    provider = LocalProvider(settings_for(tmp_path / "state"))
    await provider.startup()
    try:
        assert await provider.list_functions(NAMESPACE) == []
    finally:
        await provider.shutdown()
    assert "not restoring function bad" in caplog.text
    assert "junk.json" in caplog.text


async def test_update_clamps_the_kept_count_to_the_new_labels(local: LocalProvider) -> None:
    await local.deploy(echo(labels={"com.openfaas.scale.min": "3"}))
    await local.update(echo(labels={"com.openfaas.scale.max": "2"}))
    await replicas_settle(local, "echo", 2)
    await local.scale("echo", NAMESPACE, 0)
    await local.update(echo(labels={"com.openfaas.scale.min": "2"}))
    await replicas_settle(local, "echo", 0)


async def test_invalid_processes_are_rejected(local: LocalProvider) -> None:
    with pytest.raises(InvalidRequest, match="cannot be split into words") as raised:
        await local.deploy(echo(envProcess="python3 'oops"))
    assert (raised.value.name, raised.value.namespace) == ("echo", NAMESPACE)
    await local.deploy(echo())
    with pytest.raises(InvalidRequest, match="cannot be set"):
        await local.update(echo(envVars={"A=B": "x"}))
    assert (await local.get("echo", NAMESPACE)).env_vars is None


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
        await eventually(lambda: _true(len(provider.instances("echo", NAMESPACE)) == 1))
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
    await eventually(lambda: _none_alive([child]))
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


async def _true(condition: bool) -> bool | None:
    return True if condition else None


async def _none_alive(pids: Sequence[int]) -> bool | None:
    return None if any(alive(pid) for pid in pids) else True
