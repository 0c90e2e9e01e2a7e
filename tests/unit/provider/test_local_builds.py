"""A deployment of a built image, as its replicas run it: the build's process, settings, folder and interpreter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from provider.local.builds import built, find_build, resolve
from provider.types import FunctionDeployment, LocalBuild, build_folder

BUILD = LocalBuild(
    image="fn:1",
    lang="python3-http",
    fprocess="python index.py",
    env={"mode": "http", "upstream_url": "http://127.0.0.1:5000"},
    python="/state/environments/abc/bin/python",
    built_at=datetime(2026, 12, 4, tzinfo=UTC),
)


def test_a_deployment_without_a_process_runs_the_templates_with_the_environments_python() -> None:
    deployment = FunctionDeployment(service="fn", image="fn:1", env_vars={"mode": "streaming", "A": "1"})
    effective = built(deployment, BUILD, Path("/builds/fn"))
    assert effective.env_process == "/state/environments/abc/bin/python index.py"
    # The deployment's own settings beat the template's.
    assert effective.env_vars == {"mode": "streaming", "upstream_url": "http://127.0.0.1:5000", "A": "1"}
    assert effective.annotations == {"com.faasq.workdir": "/builds/fn"}


def test_faas_cli_sends_the_templates_fprocess_and_python3_resolves_too() -> None:
    deployment = FunctionDeployment(
        service="fn", image="fn:1", env_process="python3 -u index.py", annotations={"com.faasq.workdir": "/elsewhere"}
    )
    effective = built(deployment, BUILD, Path("/builds/fn"))
    assert effective.env_process == "/state/environments/abc/bin/python -u index.py"
    assert effective.annotations == {"com.faasq.workdir": "/builds/fn"}  # an image runs in its build


def test_a_build_without_an_environment_keeps_the_process_as_it_is() -> None:
    node = BUILD.model_copy(update={"fprocess": "node index.js", "python": None})
    assert built(FunctionDeployment(service="fn", image="fn:1"), node, Path("/b")).env_process == "node index.js"


def test_resolve_finds_a_build_by_image_or_leaves_the_deployment(tmp_path: Path) -> None:
    folder = tmp_path / build_folder("fn:1")
    folder.mkdir()
    (folder / "build.json").write_text(BUILD.model_dump_json())
    assert find_build(tmp_path, "fn:1") == (BUILD, folder)
    assert resolve(tmp_path, FunctionDeployment(service="fn", image="fn:1")).env_process is not None
    other = FunctionDeployment(service="fn", image="other:1", env_process="cat")
    assert resolve(tmp_path, other) == other
    (folder / "build.json").write_text("{not json")
    assert find_build(tmp_path, "fn:1") is None


def test_build_folders_are_readable_and_distinct() -> None:
    assert build_folder("ghcr.io/org/fn:latest").startswith("ghcr.io_org_fn_latest-")
    assert build_folder("a/b") != build_folder("a_b")
