"""Every object the Kubernetes provider sends validates against the pinned Kubernetes schemas and kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kube_provider import Kube, send_every_kind
from tests.support.kube_schemas import kubectl_dry_run, schema_errors

pytestmark = pytest.mark.integration


async def test_every_object_sent_validates_against_the_schemas(kube: Kube) -> None:
    await send_every_kind(kube)
    kinds = sorted({obj["kind"] for obj in kube.api.received})
    assert kinds == ["Deployment", "Secret", "Service"]
    assert schema_errors(kube.api.received) == []


async def test_a_broken_object_is_caught(kube: Kube) -> None:
    await send_every_kind(kube)
    broken = kube.api.received[-1] | {"spec": {"replicas": "two"}}
    assert len(schema_errors([broken])) == 1


async def test_kubectl_reads_every_object_back_unchanged(kube: Kube, tmp_path: Path) -> None:
    await send_every_kind(kube)
    sent = kube.api.received
    read = await kubectl_dry_run(sent, tmp_path, tmp_path / "kubeconfig")
    assert [(o["kind"], o["metadata"]["name"]) for o in read] == [(o["kind"], o["metadata"]["name"]) for o in sent]
    for before, after in zip(sent, read, strict=True):
        assert after["spec" if "spec" in before else "data"] == before["spec" if "spec" in before else "data"]
    assert any((tmp_path / ".kube" / "cache").rglob("*")), "kubectl's cache belongs in the test's folder"
