"""The Dockerfiles, read without a Docker engine: stages, the final stage's user and command, and what the build sees.

No engine runs here, so the images are not built in the tests; docs/kubernetes.md says so.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "deploy" / "function.Dockerfile"]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|apt-get install|apk add|pip install)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [arg for key, arg in self.instructions if key == keyword]
        return found[-1] if found else None


def stages(path: Path) -> list[Stage]:
    """The Dockerfile's stages, each with its instructions; comments dropped, continuations joined."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#")))
    found: list[Stage] = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        keyword, _, argument = line.partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = argument.partition(" AS ")
            found.append(Stage(base.strip(), name.strip() or None))
        else:
            found[-1].instructions.append((keyword.upper(), argument.strip()))
    return found


def manifest_pods() -> list[dict[str, Any]]:
    documents = [d for p in (ROOT / "deploy" / "base").glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    return [d["spec"]["template"]["spec"] for d in documents if d.get("kind") in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_a_builder_stage_and_a_slim_final_stage_run_by_a_numeric_user(path: Path) -> None:
    builder, final = stages(path)
    assert builder.name == "builder"
    assert "pip install -c constraints.txt" in " ".join(arg for key, arg in builder.instructions if key == "RUN")
    assert final.base.endswith("-slim")
    assert ("COPY", "--from=builder /opt/faasq /opt/faasq") in final.instructions
    assert not [arg for key, arg in final.instructions if key == "RUN" and BUILD_TOOLS.search(arg)]
    user = final.last("USER")
    assert user is not None
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user)


def test_the_faasq_image_runs_as_the_manifests_user_and_starts_a_console_script() -> None:
    final = stages(ROOT / "Dockerfile")[-1]
    uid = int((final.last("USER") or "").partition(":")[0])
    faasq_pods = [pod for pod in manifest_pods() if all(c["image"].startswith("faasq/") for c in pod["containers"])]
    assert {pod["securityContext"]["runAsUser"] for pod in faasq_pods} == {uid}
    assert json.loads(final.last("CMD") or "[]")[0] in PROJECT["project"]["scripts"]


def test_the_function_image_runs_the_watchdog() -> None:
    final = stages(ROOT / "deploy" / "function.Dockerfile")[-1]
    assert json.loads(final.last("ENTRYPOINT") or "[]") == ["faasq-watchdog"]
    assert final.last("EXPOSE") == "8080"


def test_the_build_context_holds_the_packages_and_nothing_local() -> None:
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    needed = ["pyproject.toml", "constraints.txt", "README.md"]
    needed += [p.rstrip("*") for p in PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert [n for n in needed if any(fnmatch.fnmatch(n, pattern) for pattern in ignored)] == []
    assert {".git", ".venv", ".kube", "tests"} <= set(ignored)


def test_the_documented_build_tags_the_image_the_manifests_run() -> None:
    images = {c["image"] for pod in manifest_pods() for c in pod["containers"]}
    faasq_images = {i for i in images if i.startswith("faasq/")}
    assert faasq_images == {f"faasq/faasq:{PROJECT['project']['version']}"}
    for doc in ("Dockerfile", "docs/kubernetes.md", "README.md"):
        tags = re.findall(r"docker build -t (\S+) \.", (ROOT / doc).read_text())
        assert tags == [*faasq_images], doc
