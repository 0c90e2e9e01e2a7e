"""Every manifest in deploy/ validates against the pinned Kubernetes schemas, as written and as kustomize renders it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support.kube_schemas import kubectl, kubectl_env, schema_errors

BASE = Path(__file__).parents[3] / "deploy" / "base"


def test_every_file_validates_against_the_schemas() -> None:
    files = sorted(p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    objects = [d for p in files for d in yaml.safe_load_all(p.read_text()) if d]
    assert len(objects) >= 5
    assert schema_errors(objects) == []


def test_the_kustomization_names_every_file_and_renders_valid_objects(tmp_path: Path) -> None:
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    rendered = subprocess.run(
        [kubectl(), "kustomize", str(BASE)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=kubectl_env(tmp_path),
    )
    objects = list(yaml.safe_load_all(rendered.stdout))
    assert schema_errors(objects) == []
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"} == {"openfaas", "openfaas-fn"}
