"""``lang:`` functions built without Docker, from the templates ``faas-cli new`` and ``faas-cli template pull`` leave.

A template is ``template/<lang>/`` next to the stack file: its ``template.yml`` names the
process (``fprocess``), and its Dockerfile's ``ENV`` lines the watchdog settings (``mode``,
``upstream_url``, ``cgi_headers``, ...). A build is the template with the function's handler
in ``function/`` (faas-cli's shrinkwrap layout), in a folder named for the function's image
under the builds folder, with a :class:`~provider.types.LocalBuild` record in ``build.json``.
A Python template gets a virtual environment with its requirements and the handler's,
shared by every build with the same requirements (keyed by their hash), so a rebuild with
unchanged requirements takes seconds.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from faasq.errors import BuildFailed
from faasq.stack import StackFunction
from provider.types import LOCAL_BUILD_FILE, LocalBuild, build_folder

__all__ = ["WATCHDOG_ENV", "Template", "build_function", "dockerfile_env"]

WATCHDOG_ENV = frozenset(
    {
        "fprocess",
        "mode",
        "upstream_url",
        "cgi_headers",
        "content_type",
        "marshal_request",
        "combine_output",
        "exec_timeout",
        "read_timeout",
        "write_timeout",
        "max_inflight",
        "healthcheck_interval",
        "prefix_logs",
        "suppress_lock",
        "write_debug",
        "buffer_http",
    }
)
"""The Dockerfile ``ENV`` names a build keeps: the watchdog's settings, nothing of the image's own paths."""

_DONE = ".complete"
_TOOLCHAINS = {"node": "node", "python": sys.executable, "go": "go", "java": "java", "ruby": "ruby", "php": "php"}


def dockerfile_env(text: str) -> dict[str, str]:
    """The variables a Dockerfile's ``ENV`` instructions set, in order (``ENV k=v k2="v 2"`` and ``ENV k v``)."""
    env: dict[str, str] = {}
    for instruction in _instructions(text):
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() != "ENV" or not rest.strip():
            continue
        words = shlex.split(rest, posix=True)
        if "=" not in words[0]:  # the legacy form: ENV key the rest is the value
            key, _, value = rest.strip().partition(" ")
            env[key] = value.strip()
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def _instructions(text: str) -> list[str]:
    joined, lines = "", []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            joined += stripped[:-1] + " "
            continue
        lines.append(joined + stripped)
        joined = ""
    return lines


@dataclass(frozen=True)
class Template:
    """A template folder as ``faas-cli template pull`` leaves it."""

    name: str
    folder: Path
    language: str
    fprocess: str
    env: dict[str, str]

    @classmethod
    def read(cls, folder: Path) -> Template:
        """Read ``template.yml`` and the Dockerfile's ``ENV`` lines.

        Raises:
            BuildFailed: the folder is not a template, or names no process.
        """
        if not folder.is_dir():
            raise BuildFailed(
                f"template {folder.name!r} not found in {folder.parent}: "
                f"faas-cli template pull (or faas-cli new --lang {folder.name}) puts it there"
            )
        try:
            spec = yaml.safe_load((folder / "template.yml").read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise BuildFailed(f"template {folder.name!r}: cannot read template.yml: {exc}") from None
        dockerfile = folder / "Dockerfile"
        env = dockerfile_env(dockerfile.read_text()) if dockerfile.is_file() else {}
        fprocess = str(spec.get("fprocess") or env.get("fprocess") or "")
        if not fprocess:
            raise BuildFailed(f"template {folder.name!r} names no fprocess in template.yml or its Dockerfile")
        kept = {key: value for key, value in env.items() if key in WATCHDOG_ENV and key != "fprocess"}
        return cls(folder.name, folder, str(spec.get("language") or folder.name), fprocess, kept)

    @property
    def toolchain(self) -> str:
        """The program the template's functions need on this machine (``node`` for a Node template)."""
        language = self.language.lower()
        return next((tool for prefix, tool in _TOOLCHAINS.items() if language.startswith(prefix)), "")

    @property
    def is_python(self) -> bool:
        """Whether its functions run on Python (and get a virtual environment)."""
        return self.language.lower().startswith("python")


def build_function(function: StackFunction, builds: Path, environments: Path) -> LocalBuild:
    """Build ``function`` (it has ``lang:``) into ``builds``, its Python environment in ``environments``.

    Raises:
        BuildFailed: no template, no handler, a toolchain the machine lacks, or requirements pip refused.
    """
    stack_dir = function.folder or Path.cwd()
    template = Template.read(stack_dir / "template" / (function.lang or ""))
    handler = stack_dir / (function.handler or function.name)
    if not handler.is_dir():
        raise BuildFailed(f"function {function.name}: handler folder {handler} not found")
    if template.toolchain and shutil.which(template.toolchain) is None:
        raise BuildFailed(
            f"function {function.name}: template {template.name!r} needs {template.toolchain}, "
            "which is not on this machine's PATH"
        )
    folder = builds / build_folder(function.image or function.name)
    staging = folder.with_name(folder.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(template.folder, staging, symlinks=True)
    shutil.rmtree(staging / "function", ignore_errors=True)
    shutil.copytree(handler, staging / "function", symlinks=True)
    python = _environment(template, staging, environments) if template.is_python else None
    build = LocalBuild(
        image=function.image or function.name,
        lang=template.name,
        fprocess=template.fprocess,
        env=template.env,
        python=python,
        built_at=datetime.now(UTC),
    )
    (staging / LOCAL_BUILD_FILE).write_text(build.model_dump_json(indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    return build


def _requirements(build: Path) -> list[Path]:
    candidates = (build / "requirements.txt", build / "function" / "requirements.txt")
    return [path for path in candidates if path.is_file() and path.read_text().strip()]


def _environment(template: Template, build: Path, environments: Path) -> str:
    """The interpreter of a virtual environment with the build's requirements, made once per set of them."""
    requirements = _requirements(build)
    digest = hashlib.sha256(sys.version.encode())
    for path in requirements:
        digest.update(path.read_bytes())
    folder = environments / digest.hexdigest()[:16]
    python = folder / "bin" / "python"
    if (folder / _DONE).exists():
        return str(python)
    shutil.rmtree(folder, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(folder)], f"template {template.name!r}: cannot make a virtual environment")
    if requirements:
        files = [arg for path in requirements for arg in ("-r", str(path))]
        _run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *files],
            f"template {template.name!r}: pip could not install {', '.join(_relative(p, build) for p in requirements)}",
        )
    (folder / _DONE).touch()
    return str(python)


def _relative(path: Path, folder: Path) -> str:
    return str(path.relative_to(folder))


def _run(argv: list[str], failure: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-5:]  # pip's verdict, not its chatter
        raise BuildFailed(f"{failure}: " + " / ".join(errors))
