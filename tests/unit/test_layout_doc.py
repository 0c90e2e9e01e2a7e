"""docs/layout.md, the module map, names every module of faasq's packages, so what a newcomer reads is on disk."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

PACKAGES = ("calls", "plumbing", "gateway", "queue_worker", "provider", "watchdog", "connectors", "faasq", "autoscaler")


def _modules() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }


def _listed() -> set[str]:
    text = (ROOT / "docs" / "layout.md").read_text()
    listed: set[str] = set()
    folder = ""
    for line in text.splitlines():
        if heading := re.fullmatch(r"## `([\w/]+)/`", line):
            folder = heading.group(1)
        elif row := re.match(r"\| `(\w+\.py)` \|", line):
            listed.add(f"{folder}/{row.group(1)}")
    return listed


def test_the_module_map_lists_every_module_and_no_other() -> None:
    modules, listed = _modules(), _listed()
    assert not modules - listed, f"docs/layout.md does not list {sorted(modules - listed)}"
    assert not listed - modules, f"docs/layout.md lists modules that do not exist: {sorted(listed - modules)}"
