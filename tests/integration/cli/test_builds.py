"""``faasq build``: templates read as faas-cli lays them out, builds in the shrinkwrap layout, environments shared."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from faasq.builds import build_all, builds_dir
from faasq.context import Console
from faasq.errors import BuildFailed
from faasq.stack import StackFunction
from faasq.templates import Template, build_function, dockerfile_env
from provider.types import LocalBuild, build_folder
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

TEMPLATES = ROOT / "tests" / "fixtures" / "templates"


def test_dockerfile_env_reads_every_form_of_env() -> None:
    text = (
        "FROM python:3\n"
        'ENV fprocess="python index.py"\n'
        "ENV mode=http \\\n    upstream_url=http://127.0.0.1:5000 cgi_headers='true'\n"
        "# ENV commented=out\n"
        "ENV content_type text/plain; charset=utf-8\n"
        "RUN echo ENV=not-an-instruction\n"
    )
    assert dockerfile_env(text) == {
        "fprocess": "python index.py",
        "mode": "http",
        "upstream_url": "http://127.0.0.1:5000",
        "cgi_headers": "true",
        "content_type": "text/plain; charset=utf-8",
    }


def test_a_template_names_its_process_and_its_watchdog_settings() -> None:
    template = Template.read(TEMPLATES / "python3-http")
    assert (template.name, template.language, template.fprocess) == ("python3-http", "python3-http", "python index.py")
    # The watchdog's settings only: PATH and the like belong to the image.
    assert template.env == {"cgi_headers": "true", "mode": "http", "upstream_url": "http://127.0.0.1:5000"}
    assert (template.is_python, Template.read(TEMPLATES / "node18").toolchain) == (True, "node")


def lay_out(folder: Path, lang: str, handler: str = "fn", requirements: str = "") -> StackFunction:
    shutil.copytree(TEMPLATES / lang, folder / "template" / lang)
    (folder / handler).mkdir(parents=True)
    (folder / handler / "handler.py").write_text("def handle(req):\n    return req\n")
    (folder / handler / "requirements.txt").write_text(requirements)
    return StackFunction(name="fn", lang=lang, handler=f"./{handler}", image="example/fn:1", folder=folder)


def test_a_build_is_the_template_with_the_handler_in_function(tmp_path: Path) -> None:
    function = lay_out(tmp_path / "stack", "python3-flask")
    build = build_function(function, tmp_path / "builds", tmp_path / "envs")
    folder = tmp_path / "builds" / build_folder("example/fn:1")
    assert sorted(path.name for path in folder.iterdir()) == [
        "Dockerfile",
        "build.json",
        "function",
        "index.py",
        "requirements.txt",
        "template.yml",
    ]
    # faas-cli's shrinkwrap: the handler replaces the template's own function/.
    assert sorted(path.name for path in (folder / "function").iterdir()) == ["handler.py", "requirements.txt"]
    assert LocalBuild.model_validate_json((folder / "build.json").read_text()) == build
    assert (build.image, build.lang, build.fprocess) == ("example/fn:1", "python3-flask", "python index.py")
    assert build.env == {"cgi_headers": "true", "mode": "http", "upstream_url": "http://127.0.0.1:5000"}
    assert build.python is not None
    assert Path(build.python).is_relative_to(tmp_path / "envs")


def test_functions_with_the_same_requirements_share_an_environment(tmp_path: Path) -> None:
    one = build_function(lay_out(tmp_path / "a", "python3-flask"), tmp_path / "builds", tmp_path / "envs")
    two = build_function(lay_out(tmp_path / "b", "python3-flask", "other"), tmp_path / "builds", tmp_path / "envs")
    assert one.python == two.python
    three = build_function(
        lay_out(tmp_path / "c", "python3-flask", requirements="six\n"), tmp_path / "builds", tmp_path / "envs"
    )
    assert three.python != one.python  # its own requirements: its own environment, six installed in it
    assert three.python is not None
    assert list(Path(three.python).parents[1].glob("lib/python*/site-packages/six.py"))


def test_a_template_needing_a_program_this_machine_lacks_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = lay_out(tmp_path / "stack", "node18")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BuildFailed, match="template 'node18' needs node, which is not on this machine's PATH"):
        build_function(function, tmp_path / "builds", tmp_path / "envs")


def test_a_missing_template_or_handler_is_named(tmp_path: Path) -> None:
    function = lay_out(tmp_path / "stack", "python3-flask")
    with pytest.raises(BuildFailed, match=r"template 'ruby' not found in .*: faas-cli template pull"):
        build_function(function.model_copy(update={"lang": "ruby"}), tmp_path / "b", tmp_path / "e")
    with pytest.raises(BuildFailed, match=r"function fn: handler folder .*/missing not found"):
        build_function(function.model_copy(update={"handler": "./missing"}), tmp_path / "b", tmp_path / "e")


def test_requirements_pip_refuses_fail_the_build_with_pips_words(tmp_path: Path) -> None:
    function = lay_out(tmp_path / "stack", "python3-flask", requirements="no-such-package-faasq==0.0.0\n")
    refused = r"pip could not install requirements\.txt, function/requirements\.txt: ERROR: .*no-such-package-faasq"
    with pytest.raises(BuildFailed, match=refused):
        build_function(function, tmp_path / "builds", tmp_path / "envs")
    assert not any((tmp_path / "builds").glob("*/build.json"))


def test_the_build_record_is_json_the_provider_reads(tmp_path: Path) -> None:
    build_function(lay_out(tmp_path / "stack", "python3-http"), tmp_path / "builds", tmp_path / "envs")
    record = json.loads((tmp_path / "builds" / build_folder("example/fn:1") / "build.json").read_text())
    assert set(record) == {"image", "lang", "fprocess", "env", "python", "built_at"}


def test_a_relative_state_dir_still_records_where_the_interpreter_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicas run in their build's folder, so a build's interpreter path must not depend on the current one."""
    function = lay_out(tmp_path / "stack", "python3-flask")
    monkeypatch.chdir(tmp_path)
    stderr = io.BytesIO()
    built = build_all([function], Path(".faasq"), Console(io.BytesIO(), io.BytesIO(), stderr))
    python = built["fn"].python
    assert python is not None
    assert Path(python).is_absolute()
    assert Path(python).is_relative_to(tmp_path / ".faasq" / "environments")
    assert (builds_dir(tmp_path / ".faasq") / build_folder("example/fn:1") / "build.json").is_file()
    assert (
        stderr.getvalue().decode().startswith("Building fn (python3-flask template)...\nBuilt fn as example/fn:1 in ")
    )
