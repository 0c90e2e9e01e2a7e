"""A ``lang:`` function's image run from its local build (``faasq build``), as a container runtime runs an image.

A build is a folder under ``builds_dir`` named for the image (:func:`provider.types.build_folder`):
the function's template with its handler in ``function/``, and ``build.json`` (a
:class:`~provider.types.LocalBuild`). A deployment of that image runs there, with the
template's process and watchdog settings where the deployment sets none, and ``python`` its
environment's interpreter. Reading a build is I/O; applying it is :func:`built`, a pure function.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pydantic import ValidationError

from provider.types import LOCAL_BUILD_FILE, WORKDIR_ANNOTATION, FunctionDeployment, LocalBuild, build_folder

__all__ = ["built", "find_build", "resolve"]

_PYTHONS = frozenset({"python", "python3"})


def find_build(builds_dir: Path, image: str) -> tuple[LocalBuild, Path] | None:
    """The local build of ``image`` and its folder, or None if there is none (or it cannot be read)."""
    folder = builds_dir / build_folder(image)
    try:
        return LocalBuild.model_validate_json((folder / LOCAL_BUILD_FILE).read_bytes()), folder
    except (OSError, ValidationError):
        return None


def built(deployment: FunctionDeployment, build: LocalBuild, folder: Path) -> FunctionDeployment:
    """``deployment`` as its replicas run it from ``build``, kept in ``folder``."""
    process = deployment.env_process or build.fprocess
    words = shlex.split(process)
    if build.python is not None and words and words[0] in _PYTHONS:
        process = shlex.join([build.python, *words[1:]])
    annotations = (deployment.annotations or {}) | {WORKDIR_ANNOTATION: str(folder)}  # the image runs in its build
    return deployment.model_copy(
        update={
            "env_process": process,
            "env_vars": build.env | (deployment.env_vars or {}),
            "annotations": annotations,
        }
    )


def resolve(builds_dir: Path, deployment: FunctionDeployment) -> FunctionDeployment:
    """``deployment`` from its image's local build, if its image has one; else as it is."""
    found = find_build(builds_dir, deployment.image) if deployment.image else None
    return built(deployment, *found) if found is not None else deployment
