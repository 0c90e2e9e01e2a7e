"""Loading settings, one-line validation messages, and the URL and name rules settings share."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import BaseSettings

__all__ = ["base_url", "describe_validation_error", "jetstream_name", "load_settings", "positive_duration"]

S = TypeVar("S", bound=BaseSettings)

# JetStream names become subjects and file names: no whitespace, '.', '*', '>' or path separators.
_JETSTREAM_NAME = re.compile(r"\A[A-Za-z0-9_-]{1,32}\Z")


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


def base_url(value: str, example: str = "http://127.0.0.1:8080") -> str:
    """An http(s) base URL with a host, without its trailing slash (a setting validator's body).

    Raises:
        ValueError: anything else, naming ``example`` as the expected form.
    """
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL such as {example}, got {value!r}")
    return value.rstrip("/")


def jetstream_name(value: str, what: str = "stream") -> str:
    """``value`` if it may name a JetStream stream, bucket or consumer: 1-32 letters, digits, ``_`` or ``-``.

    Raises:
        ValueError: anything else, naming ``what`` it is.
    """
    if not _JETSTREAM_NAME.match(value):
        raise ValueError(f"invalid {what} name {value!r}: use 1-32 letters, digits, '_' or '-'")
    return value


def positive_duration(value: timedelta) -> timedelta:
    """A duration above zero (a setting validator's body).

    Raises:
        ValueError: zero or negative.
    """
    if value <= timedelta(0):
        raise ValueError("must be positive")
    return value
