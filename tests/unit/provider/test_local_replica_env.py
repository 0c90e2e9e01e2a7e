"""The environment a local replica's watchdog starts with."""

from pathlib import Path

from provider.local.replica import replica_env
from provider.types import FunctionDeployment


def test_replica_env_layers_inherited_function_and_provider_values() -> None:
    inherited = {"PATH": "/usr/bin", "HOME": "/root", "max_inflight": "50", "mode": "http", "fprocess": "evil"}
    deployment = FunctionDeployment(
        service="fn",
        env_process="python3 handler.py",
        env_vars={"mode": "streaming", "GREETING": "hi", "PATH": "/opt/bin", "listen_fd": "99"},
    )
    env = replica_env(inherited, deployment, listen_fd=7, run_dir=Path("/state/run/ns/fn/fn-1"), hostname="fn-1")
    assert env == {
        "PATH": "/opt/bin",
        "HOME": "/root",
        "mode": "streaming",
        "GREETING": "hi",
        "fprocess": "python3 handler.py",
        "listen_fd": "7",
        "lock_path": "/state/run/ns/fn/fn-1/.lock",
        "bind_address": "127.0.0.1",
        "secret_mount_path": "/state/run/ns/fn/fn-1/secrets",
        "HOSTNAME": "fn-1",
    }


def test_replica_env_without_env_vars() -> None:
    deployment = FunctionDeployment(service="fn", env_process="cat")
    env = replica_env({"HOSTNAME": "provider-host"}, deployment, listen_fd=3, run_dir=Path("/r"), hostname="fn-2")
    assert (env["fprocess"], env["HOSTNAME"]) == ("cat", "fn-2")  # the replica's name, never the provider's
    assert set(env) == {"fprocess", "listen_fd", "lock_path", "bind_address", "secret_mount_path", "HOSTNAME"}
