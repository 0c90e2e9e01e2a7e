"""The import packages are this repository's, never a PyPI namesake (``watchdog`` is one)."""

import importlib
import importlib.metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "package", ["calls", "plumbing", "gateway", "queue_worker", "provider", "watchdog", "connectors", "faasq"]
)
def test_package_resolves_to_this_repository(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(ROOT)


def test_pypi_watchdog_is_not_installed() -> None:
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("watchdog")


def test_no_dependency_pulls_in_pypi_watchdog() -> None:
    requirements = importlib.metadata.requires("faasq") or []
    names = {
        r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requirements
    }
    assert "watchdog" not in names
    pinned = (ROOT / "constraints.txt").read_text().lower().splitlines()
    assert not [line for line in pinned if line.startswith("watchdog=")]
