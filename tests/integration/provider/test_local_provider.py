"""The local provider: the provider contract, plus its own validation, state on disk, secrets and environment."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from provider.errors import DeployFailed, InvalidRequest
from provider.local import LocalProvider
from provider.types import Secret
from tests.support.local_provider import invoke, script, settings_for
from tests.support.provider_contract import NAMESPACE, ProviderContract, echo, replicas_settle

pytestmark = pytest.mark.integration


class TestLocalProviderContract(ProviderContract):
    @pytest.fixture
    def provider(self, local: LocalProvider) -> LocalProvider:
        return local


async def test_a_deployment_needs_a_process(local: LocalProvider) -> None:
    with pytest.raises(InvalidRequest, match="no fprocess/envProcess is set"):
        await local.deploy(echo(envProcess=None))
    with pytest.raises(InvalidRequest, match="no fprocess/envProcess is set"):
        await local.deploy(echo(envProcess="  "))
    assert await local.list_functions(NAMESPACE) == []


async def test_invalid_processes_are_rejected(local: LocalProvider) -> None:
    with pytest.raises(InvalidRequest, match="cannot be split into words") as raised:
        await local.deploy(echo(envProcess="python3 'oops"))
    assert (raised.value.name, raised.value.namespace) == ("echo", NAMESPACE)
    await local.deploy(echo())
    with pytest.raises(InvalidRequest, match="cannot be set"):
        await local.update(echo(envVars={"A=B": "x"}))
    assert (await local.get("echo", NAMESPACE)).env_vars is None


async def test_info_names_the_local_provider(local: LocalProvider) -> None:
    info = await local.info()
    assert (info.provider, info.orchestration) == ("faasq-local", "local")
    assert await local.namespaces() == [NAMESPACE]


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


async def test_one_state_dir_serves_one_provider(local: LocalProvider, tmp_path: Path) -> None:
    with pytest.raises(DeployFailed, match="in use by another local provider"):
        await LocalProvider(settings_for(tmp_path / "state")).startup()


async def test_a_failing_disk_is_a_deploy_failure_and_changes_nothing(local: LocalProvider, tmp_path: Path) -> None:
    (tmp_path / "state" / "functions").write_text("not a directory")
    with pytest.raises(DeployFailed, match="cannot store function 'echo'"):
        await local.deploy(echo())
    assert await local.list_functions(NAMESPACE) == []


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


async def test_update_clamps_the_kept_count_to_the_new_labels(local: LocalProvider) -> None:
    await local.deploy(echo(labels={"com.openfaas.scale.min": "3"}))
    await local.update(echo(labels={"com.openfaas.scale.max": "2"}))
    await replicas_settle(local, "echo", 2)
    await local.scale("echo", NAMESPACE, 0)
    await local.update(echo(labels={"com.openfaas.scale.min": "2"}))
    await replicas_settle(local, "echo", 0)


async def test_an_unchanged_update_keeps_the_running_replicas(local: LocalProvider) -> None:
    await local.deploy(echo(envVars={"K": "v"}))
    before = await replicas_settle(local, "echo", 1)
    ids = [instance.id for instance in local.instances("echo", NAMESPACE)]
    await local.update(echo(envVars={"K": "v"}))
    assert [instance.id for instance in local.instances("echo", NAMESPACE)] == ids
    assert await local.get("echo", NAMESPACE) == before
    await local.update(echo(envVars={"K": "changed"}))
    assert (await local.get("echo", NAMESPACE)).env_vars == {"K": "changed"}
