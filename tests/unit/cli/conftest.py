"""Fixtures of the command line's tests: a :class:`~tests.support.cli.Cli`, a command line in a box."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    # Never the real ~/.openfaas: saved credentials live in the test's own directory.
    return Cli(environ={"OPENFAAS_CONFIG": str(tmp_path / "openfaas")})
