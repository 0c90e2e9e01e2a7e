"""The build, as pyproject.toml describes it, plus the commit it was built from in ``plumbing/REVISION``."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithRevision(build_py):
    """setuptools' build_py, then the checkout's commit written beside ``plumbing/release.py``."""

    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(ROOT))
        from plumbing.release import git_revision

        if (sha := git_revision(ROOT)) is not None:
            (Path(self.build_lib) / "plumbing" / "REVISION").write_text(sha + "\n")


setup(cmdclass={"build_py": BuildWithRevision})
