"""Settings of the provider REST server and its backends (local, kubernetes), read once from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from provider.types import DEFAULT_NAMESPACE, GoDuration

__all__ = ["ProviderSettings"]


class ProviderSettings(BaseSettings):
    """The provider's environment; names follow faas-provider and the OpenFaaS gateway where they have one."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    provider: Literal["local", "kubernetes"] = Field(
        "local", description="The backend: watchdog subprocesses on this machine, or a Kubernetes cluster."
    )
    bind_address: str = Field("127.0.0.1", description="Address the REST server listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port the REST server listens on (faas-provider: port).")
    state_dir: Path = Field(Path(".faasq/provider"), description="Where deployments, secrets and logs are kept.")
    function_namespace: str = Field(DEFAULT_NAMESPACE, description="The namespace functions go to by default.")
    upstream_timeout: GoDuration = Field(timedelta(seconds=60), description="Longest time an invocation may take.")
    ready_timeout: GoDuration = Field(
        timedelta(seconds=30),
        description="How long an invocation waits for a replica to become ready (scale from zero).",
    )
    replica_stop_timeout: GoDuration = Field(
        timedelta(seconds=10),
        description="How long a local replica may drain after SIGTERM before its process group is killed.",
    )
    log_buffer_lines: int = Field(10_000, ge=1, description="Log lines the local provider keeps per function.")
    builds_dir: Path | None = Field(
        None,
        description="Where 'faasq build' keeps local builds of lang functions, by image (default: <state_dir>/builds).",
    )
    replica_isolation: Literal["auto", "namespaces", "off"] = Field(
        "auto",
        description="Local replicas in network, mount and UTS namespaces of their own: 'auto' where the kernel "
        "allows it, 'namespaces' always (start-up fails where it cannot), 'off' never.",
    )
    listen_fd: int | None = Field(
        None,
        ge=0,
        description="An inherited, listening TCP socket to serve on instead of bind_address:port (tests, systemd).",
    )
    shutdown_timeout: GoDuration = Field(
        timedelta(seconds=5),
        description="How long open requests (invocations, followed logs) may run on after SIGTERM.",
    )
    kubeconfig: Path | None = Field(
        None, description="The kubeconfig the kubernetes backend uses; unset, the client's default (~/.kube/config)."
    )
    in_cluster: bool = Field(False, description="Use the pod's service account instead of a kubeconfig.")
    endpoint_load_balancing: bool = Field(
        True,
        description="Invoke a random ready pod IP from the function's EndpointSlices (faas-netes' default); "
        "false: the Service's cluster DNS name.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "Always", description="imagePullPolicy of function containers (faas-netes: Always)."
    )
    kubernetes_api_workers: int = Field(
        8, ge=1, description="Threads that run calls of the (synchronous) Kubernetes client, so none blocks the loop."
    )
