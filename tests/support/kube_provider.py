"""The Kubernetes provider over the fake API server: the handle its tests get, and a workout of every object kind."""

from __future__ import annotations

from dataclasses import dataclass

from provider.kubernetes import KubernetesProvider
from provider.types import Secret
from tests.support.kube_api import FakeApiServer
from tests.support.provider_contract import NAMESPACE, echo


@dataclass
class Kube:
    """A Kubernetes provider talking to the fake API server, whose pods run on a local provider."""

    provider: KubernetesProvider
    api: FakeApiServer
    url: str


async def send_every_kind(kube: Kube) -> None:
    """Deploy, update and scale a function using every field, and a secret, through the provider."""
    provider = kube.provider
    await provider.create_secret(Secret(name="token", namespace=NAMESPACE, value="t"))
    full = {
        "envVars": {"A": "1"},
        "labels": {"team": "blue", "com.openfaas.scale.max": "3"},
        "annotations": {"topic": "orders"},
        "constraints": ["kubernetes.io/arch=amd64"],
        "limits": {"memory": "128Mi", "cpu": "500m"},
        "requests": {"memory": "64Mi", "cpu": "100m"},
        "readOnlyRootFilesystem": True,
        "secrets": ["token"],
    }
    await provider.deploy(echo("full", **full))
    await provider.update(echo("full", **full | {"envVars": {"A": "2"}}))
    await provider.scale("full", NAMESPACE, 2)
    await provider.update_secret(Secret(name="token", namespace=NAMESPACE, value="t2"))
