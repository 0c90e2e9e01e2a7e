"""Errors the command line reports as one short line on stderr and exit code 1, never a traceback.

CliError
 ├── StackError            the stack file is missing, unreadable or invalid
 ├── GatewayUnreachable    nothing answers at the gateway URL
 ├── GatewayError          the gateway answered with a 4xx or 5xx; carries status and message
 ├── BuildFailed           a lang: function cannot be built (template, handler, toolchain, requirements)
 └── StackFailed           ``faasq up``: a child failed to start, died, or a function never became ready
"""

from __future__ import annotations

__all__ = ["BuildFailed", "CliError", "GatewayError", "GatewayUnreachable", "StackError", "StackFailed"]


class CliError(Exception):
    """Base of every error the command line reports; its message is printed as is."""


class StackError(CliError):
    """The stack file cannot be used."""


class GatewayUnreachable(CliError):
    """The gateway did not answer (connection refused, timeout, DNS failure)."""


class GatewayError(CliError):
    """The gateway answered with an error status.

    Attributes:
        status: the HTTP status code.
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class BuildFailed(CliError):
    """A ``lang:`` function cannot be built: its template, handler, toolchain or requirements."""


class StackFailed(CliError):
    """``faasq up`` could not bring the stack up, or a part of it stopped."""
