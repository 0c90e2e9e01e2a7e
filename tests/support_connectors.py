"""An installed-looking copy of the example connector package: a dist-info whose entry points are the example's."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "connectors" / "faasq-lines"


def install_example(site: Path) -> list[Path]:
    """Write ``faasq_lines-0.1.0.dist-info`` into ``site`` from the example's pyproject; the paths to import from."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    dist_info = site / "faasq_lines-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    entries = project["entry-points"]
    text = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
        for group, points in entries.items()
    )
    (dist_info / "entry_points.txt").write_text(text)
    return [site, EXAMPLE]
