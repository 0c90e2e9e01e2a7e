"""The import rules between faasq's packages, read from the source with ``ast``.

Components talk over HTTP and NATS; in code they share only ``provider.types`` (OpenFaaS's
vocabulary), ``calls`` (the async call's core) and ``plumbing``. Outside ``provider/``
nothing reaches into the provider but ``provider.types``; the watchdog, a standalone
program, uses ``plumbing.headers`` and nothing else of faasq, and never FastAPI or Starlette.

Under ``tests/``, modules share helpers through ``tests.support`` alone: no module imports
another part of ``tests``, and nothing imports a ``conftest.py`` or a ``test_*.py`` module.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAASQ = ("calls", "plumbing", "gateway", "queue_worker", "provider", "watchdog", "connectors", "faasq", "autoscaler")
SHARED = ("calls", "plumbing", "provider.types")

ALLOWED: dict[str, tuple[str, ...]] = {
    "plumbing": (),
    "calls": ("plumbing", "provider.types"),
    "provider": ("plumbing",),
    "gateway": SHARED,
    "queue_worker": SHARED,
    "connectors": SHARED,
    "autoscaler": SHARED,
    "faasq": SHARED,
    "watchdog": ("plumbing.headers",),
    "bench": (*SHARED, "faasq.natsserver", "provider"),  # benchmarks drive a component in process, as tests do
    "examples": ("connectors.sdk",),
}
"""What each top-level folder may import of faasq besides itself (a module, or a package and all below it)."""

FORBIDDEN_LIBRARIES = {"watchdog": ("fastapi", "starlette")}
STDLIB_ONLY = ("plumbing.headers",)
"""Modules that import the standard library alone (the watchdog uses them)."""


def imports(source: str) -> Iterator[tuple[int, str, list[str]]]:
    """Each absolute import of a source: its line, the module, and the names taken from it (none for ``import``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def _allowed(folder: str, module: str) -> bool:
    top = module.split(".")[0]
    if top in FORBIDDEN_LIBRARIES.get(folder, ()):
        return False
    if top not in FAASQ or top == folder:
        return True
    return any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED[folder])


def violations(folder: str, source: str, where: str = "<source>") -> list[str]:
    """The imports of a module in ``folder`` that break the rules, each as ``where:line imports module``."""
    return [
        f"{where}:{line} imports {module}"
        for line, module, names in imports(source)
        # `from provider import types` takes the module provider.types.
        if not _allowed(folder, module) and not (names and all(_allowed(folder, f"{module}.{n}") for n in names))
    ]


def _sources() -> list[Path]:
    return sorted(path for folder in ALLOWED for path in (ROOT / folder).rglob("*.py"))


def test_every_module_keeps_to_its_layer() -> None:
    broken = [
        problem
        for path in _sources()
        for problem in violations(path.relative_to(ROOT).parts[0], path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not broken, "imports across layers:\n" + "\n".join(broken)


def _test_module(name: str) -> bool:
    return name == "conftest" or name.startswith("test_")


def _shareable(module: str) -> bool:
    """Whether a module under tests/ may import ``module``: of tests, only tests.support; never a conftest or test."""
    parts = module.split(".")
    return not any(map(_test_module, parts)) and (parts[0] != "tests" or parts[1:2] == ["support"])


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from`` import reads, relative ones resolved against the importer's ``package``."""
    if node.level == 0:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _unshareable(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if not _shareable(alias.name)]
    module = _absolute(node, package)
    taken = [f"{module}.{alias.name}" for alias in node.names]
    if all(_shareable(name) for name in taken):
        return []  # `from tests import support` takes tests.support
    # `from tests.e2e.running import until` names the module; `from . import conftest` takes one.
    return [name for name in taken if _test_module(name.rsplit(".", 1)[1])] or [module]


def support_violations(package: str, source: str, where: str = "<source>") -> list[str]:
    """The imports of a module in ``package`` (under tests/) that break the rule, as ``where:line imports module``."""
    return [
        f"{where}:{node.lineno} imports {module}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for module in _unshareable(node, package)
    ]


@pytest.mark.parametrize("module", STDLIB_ONLY)
def test_what_the_watchdog_shares_needs_nothing_but_the_standard_library(module: str) -> None:
    path = ROOT / (module.replace(".", "/") + ".py")
    tops = {name.split(".")[0] for _, name, _ in imports(path.read_text())}
    assert tops <= sys.stdlib_module_names, f"{module} imports {sorted(tops - sys.stdlib_module_names)}"


@pytest.mark.parametrize(
    ("folder", "line"),
    [
        ("gateway", "from provider.queue import QueuedCall"),
        ("gateway", "from provider import proxy"),
        ("queue_worker", "import provider.callstatus"),
        ("connectors", "from provider.validation import load_settings"),
        ("faasq", "from gateway.app import create_app"),
        ("calls", "from queue_worker.config import WorkerSettings"),
        ("provider", "from calls.wire import QueuedCall"),
        ("plumbing", "from provider.types import GoDuration"),
        ("watchdog", "from provider.types import GoDuration"),
        ("watchdog", "from plumbing.logs import configure_logging"),
        ("watchdog", "from starlette.types import Scope"),
        ("watchdog", "import fastapi"),
    ],
)
def test_a_crossing_import_is_named(folder: str, line: str) -> None:
    source = f"from __future__ import annotations\n\n\ndef lazy() -> None:\n    {line}\n"
    assert violations(folder, source, "m.py") == [f"m.py:5 imports {line.split()[1]}"]


@pytest.mark.parametrize(
    ("folder", "line"),
    [
        ("gateway", "from provider.types import FunctionStatus"),
        ("gateway", "from provider import types"),
        ("gateway", "from calls.wire import QueuedCall"),
        ("queue_worker", "import plumbing.logs"),
        ("watchdog", "from plumbing.headers import HOP_BY_HOP"),
        ("watchdog", "import aiohttp"),
        ("provider", "from provider.local import LocalProvider"),
    ],
)
def test_an_allowed_import_passes(folder: str, line: str) -> None:
    assert violations(folder, line + "\n") == []


def test_tests_share_helpers_through_tests_support_alone() -> None:
    broken = [
        problem
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for problem in support_violations(
            ".".join(path.relative_to(ROOT).parts[:-1]), path.read_text(), str(path.relative_to(ROOT))
        )
    ]
    assert not broken, "imports of tests outside tests.support, or of a conftest or test module:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("package", "line", "imported"),
    [
        ("tests.unit.cli", "from tests.unit.cli.conftest import Cli", "tests.unit.cli.conftest"),
        ("tests.integration.connectors", "from tests.conftest import start_redis", "tests.conftest"),
        ("tests.integration.gateway", "from tests.integration.provider.test_api import ROOT", None),
        ("tests.e2e", "from tests.e2e.running import until", None),
        ("tests.faults", "from tests.faults import harness", "tests.faults"),
        ("tests.integration.queue_worker", "import tests.integration.queue_worker.conftest", None),
        ("tests.unit.gateway", "from .fakes import FakeLink", "tests.unit.gateway.fakes"),
        ("tests.unit.gateway", "from . import conftest", "tests.unit.gateway.conftest"),
        ("tests.unit.provider", "from .test_api_fake import FakeProvider", "tests.unit.provider.test_api_fake"),
        ("tests.unit.gateway", "from ..provider.test_api import DEPLOY", "tests.unit.provider.test_api"),
        ("tests.support", "from tests.integration.gateway.conftest import stored", None),
        ("tests.support", "from tests.support import test_helpers", "tests.support.test_helpers"),
        ("tests", "import conftest", "conftest"),
    ],
)
def test_an_import_around_tests_support_is_named(package: str, line: str, imported: str | None) -> None:
    source = f"from __future__ import annotations\n\n\ndef lazy() -> None:\n    {line}\n"
    assert support_violations(package, source, "t.py") == [f"t.py:5 imports {imported or line.split()[1]}"]


@pytest.mark.parametrize(
    ("package", "line"),
    [
        ("tests.unit.gateway", "from tests.support.gateway_fakes import FakeLink, function"),
        ("tests.e2e", "import tests.support.stack"),
        ("tests.e2e", "from tests.support import polling"),
        ("tests.support", "from . import polling"),
        ("tests.support", "from .sockets import bound_socket"),
        ("tests.unit.provider", "from provider.types import Secret"),
        ("tests.unit", "import pytest"),
    ],
)
def test_an_import_of_tests_support_passes(package: str, line: str) -> None:
    assert support_violations(package, line + "\n") == []
