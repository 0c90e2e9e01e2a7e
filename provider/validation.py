"""Clear one-line messages for validation errors, and settings loading that exits with one."""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

__all__ = ["describe_validation_error", "load_settings"]

S = TypeVar("S", bound=BaseSettings)


def describe_validation_error(exc: ValidationError, root: str = "") -> str:
    """One line naming every bad field and why; ``root`` names a value that has no field (the whole body)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or root
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def load_settings(cls: type[S], prog: str) -> S:
    """Build ``cls`` from the environment; on bad input exit non-zero with ``prog: invalid settings: …``."""
    try:
        return cls()
    except ValidationError as exc:
        sys.exit(f"{prog}: invalid settings: {describe_validation_error(exc)}")
    except ValueError as exc:  # pydantic-settings' own parse errors, e.g. a malformed number
        sys.exit(f"{prog}: invalid settings: {exc}")
