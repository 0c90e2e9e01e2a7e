"""faasq's release and the commit it was built from, as ``GET /system/info`` and every ``User-Agent`` report them."""

from __future__ import annotations

import importlib.metadata
import re
from functools import cache
from pathlib import Path

__all__ = ["git_revision", "release", "revision", "user_agent"]

_SHA = re.compile(r"\A[0-9a-f]{40}(?:[0-9a-f]{24})?\Z")
_REVISION_FILE = Path(__file__).with_name("REVISION")
"""Written into the package when a wheel is built (``setup.py``)."""


def release() -> str:
    """The installed faasq version, or ``unknown`` in a source tree that was never installed."""
    try:
        return importlib.metadata.version("faasq")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - every test run installs faasq
        return "unknown"


@cache
def revision() -> str:
    """The git commit faasq was built from: recorded in the wheel, else read from the checkout it runs from."""
    try:
        recorded = _REVISION_FILE.read_text().strip()
    except OSError:
        recorded = ""
    return recorded or git_revision(Path(__file__).resolve().parents[1]) or "unknown"


def git_revision(root: Path) -> str | None:
    """The commit checked out in the git repository at ``root``, read from ``.git`` without git; None if none."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (root / git.read_text().strip().removeprefix("gitdir:").strip()).resolve()
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return None
    if _SHA.match(head):
        return head  # detached
    ref = head.removeprefix("ref:").strip()
    return _ref(git, ref) or _ref(_common(git), ref)


def _common(git: Path) -> Path:
    try:
        return (git / (git / "commondir").read_text().strip()).resolve()
    except OSError:
        return git


def _ref(git: Path, ref: str) -> str | None:
    try:
        sha = (git / ref).read_text().strip()
        return sha if _SHA.match(sha) else None
    except OSError:
        pass
    try:
        packed = (git / "packed-refs").read_text().splitlines()
    except OSError:
        return None
    found = (line.split()[0] for line in packed if line.endswith(f" {ref}") and _SHA.match(line.split()[0]))
    return next(found, None)


def user_agent(component: str) -> str:
    """``<component>/<release>``, e.g. ``faasq-queue-worker/0.1.0``."""
    return f"{component}/{release()}"
