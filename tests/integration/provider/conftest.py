"""Fixtures of the provider integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from provider.kubernetes import KubernetesProvider
from provider.local import LocalProvider
from tests.support.kube_api import FakeApiServer, running_api
from tests.support.kube_provider import Kube
from tests.support.kubelet import LocalCluster
from tests.support.local_provider import settings_for
from tests.support.provider_contract import NAMESPACE


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalProvider]:
    """A started local provider with its state in ``tmp_path/state``; shut down afterwards."""
    provider = LocalProvider(settings_for(tmp_path / "state"))
    await provider.startup()
    try:
        yield provider
    finally:
        await provider.shutdown()


def kubeconfig(tmp_path: Path, server: str) -> Path:
    """A kubeconfig naming the fake API server, as ``kubectl config`` would write one."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "provider", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "provider", "namespace": NAMESPACE}}],
        "current-context": "fake",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def kube(local: LocalProvider, tmp_path: Path) -> AsyncIterator[Kube]:
    """A started Kubernetes provider against a fake API server on loopback; stopped afterwards."""
    api = FakeApiServer(LocalCluster(local))
    async with running_api(api) as url:
        settings = settings_for(tmp_path / "unused", provider="kubernetes", kubeconfig=kubeconfig(tmp_path, url))
        provider = KubernetesProvider(settings)
        await provider.startup()
        try:
            yield Kube(provider, api, url)
        finally:
            await provider.shutdown()
