"""The watchdog's settings, read once from OpenFaaS's watchdog environment variables."""

from __future__ import annotations

import re
import shlex
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import AliasChoices, BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Duration", "Mode", "WatchdogSettings", "parse_duration"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> timedelta:
    """A watchdog duration: a bare number of seconds, or a Go duration ("30s", "1m5s", "250ms"), as OpenFaaS reads it.

    The watchdog shares no code with the rest of faasq, so it reads durations itself.

    Raises:
        ValueError: the value is neither.
    """
    if isinstance(value, timedelta):
        return value
    text = str(value).strip()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    parts = _DURATION_PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise ValueError(f"invalid duration {value!r}: use a number of seconds or a Go duration like '1m30s'")
    return timedelta(seconds=sign * sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A duration setting: "30s", "1m5s", "500ms", or a bare number of seconds."""


class Mode(StrEnum):
    """How a call reaches the function."""

    SERIALIZING = "serializing"
    """Fork ``fprocess`` per call; the body is its stdin, its buffered stdout the response (classic watchdog)."""
    STREAMING = "streaming"
    """Fork ``fprocess`` per call; its stdout is streamed to the client as it is produced, after a 200."""
    HTTP = "http"
    """Run ``fprocess`` once as an HTTP server and reverse-proxy every call to ``upstream_url``."""


class WatchdogSettings(BaseSettings):
    """The watchdog's environment; names and defaults are OpenFaaS's unless marked faasq.

    ``lock_path``, ``bind_address`` and ``listen_fd`` are faasq's own. faasq defaults ``mode`` to
    ``serializing`` (of-watchdog: ``streaming``) because it serves classic-watchdog functions unchanged.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    mode: Mode = Field(Mode.SERIALIZING, description="serializing (fork per call), streaming or http.")
    fprocess: str = Field(
        "",
        validation_alias=AliasChoices("fprocess", "function_process"),
        description="The function's command line, split like shell words and run without a shell.",
    )
    upstream_url: str = Field(
        "",
        validation_alias=AliasChoices("upstream_url", "http_upstream_url"),
        description="http mode: where fprocess serves HTTP, e.g. http://127.0.0.1:5000.",
    )
    cgi_headers: bool = Field(True, description="Pass request headers to fprocess as Http_* environment variables.")
    marshal_request: bool = Field(False, description='stdin becomes {"header": {...}, "body": {"raw": "<base64>"}}.')
    content_type: str = Field("", description="Forces the response Content-Type; else the request's is echoed.")
    read_timeout: Duration = Field(timedelta(seconds=30), description="Longest time to read a request body.")
    write_timeout: Duration = Field(
        timedelta(seconds=30), description="Longest time in-flight calls may take to finish after SIGTERM."
    )
    exec_timeout: Duration = Field(
        timedelta(0), description="Longest a call may run; then 408 (forking) or 504 (http). 0 turns it off."
    )
    write_debug: bool = Field(False, description="Log request and response bodies.")
    combine_output: bool = Field(True, description="Merge stderr into the response; false: stderr only to the log.")
    suppress_lock: bool = Field(False, description="Do not write the lock file when ready.")
    lock_path: Path = Field(
        Path("/tmp/.lock"),  # noqa: S108 - OpenFaaS's probe reads exactly this path
        description="faasq: the lock file written when ready (OpenFaaS: /tmp/.lock); one per replica on one machine.",
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port to listen on, unless listen_fd is given.")
    max_inflight: int = Field(0, ge=0, description="Calls served at once; over it: 429. 0 means unlimited.")
    bind_address: str = Field("0.0.0.0", description="faasq: the address to listen on.")  # noqa: S104
    listen_fd: int | None = Field(
        None, ge=0, description="faasq: an inherited, already listening socket to serve on instead of binding port."
    )

    @field_validator("read_timeout", "write_timeout", "exec_timeout")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.fprocess.strip():
            raise ValueError(f"fprocess (or function_process) is required in {self.mode} mode")
        _ = self.argv  # an unbalanced quote fails at start-up, not on the first call
        if self.mode is Mode.HTTP and not self.upstream_url:
            raise ValueError("upstream_url (or http_upstream_url) is required in http mode")
        return self

    @property
    def argv(self) -> list[str]:
        """``fprocess`` split like shell words (``shlex.split``); it is executed directly, never by a shell."""
        try:
            return shlex.split(self.fprocess)
        except ValueError as exc:
            raise ValueError(f"fprocess {self.fprocess!r} cannot be split into words: {exc}") from None

    @property
    def exec_seconds(self) -> float | None:
        """``exec_timeout`` in seconds, or None when it is off."""
        seconds = self.exec_timeout.total_seconds()
        return seconds if seconds > 0 else None
