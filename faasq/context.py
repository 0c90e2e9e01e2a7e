"""What every command gets: the console streams, the environment, and a way to reach the gateway."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from faasq.client import Gateway, resolve_gateway
from faasq.credentials import config_path, lookup
from faasq.errors import CliError
from faasq.stack import Stack, load_stack

__all__ = ["Console", "Context", "add_gateway_options", "parse_pairs"]


@dataclass(frozen=True)
class Console:
    """The process's byte streams; text is written as UTF-8 and flushed at once, so it interleaves with children."""

    stdin: BinaryIO
    stdout: BinaryIO
    stderr: BinaryIO

    def out(self, text: str = "") -> None:
        """Write one line to stdout."""
        self.write(text + "\n")

    def write(self, text: str | bytes) -> None:
        """Write text or raw bytes to stdout as is."""
        self.stdout.write(text.encode() if isinstance(text, str) else text)
        self.stdout.flush()

    def err(self, text: str | bytes) -> None:
        """Write one line (or raw bytes, as is) to stderr."""
        self.stderr.write(text.encode() + b"\n" if isinstance(text, str) else text)
        self.stderr.flush()


@dataclass(frozen=True)
class Context:
    """The world a command runs in; tests build one with byte buffers and an ``httpx.MockTransport``."""

    console: Console
    environ: Mapping[str, str]
    transport: httpx.BaseTransport | None = field(default=None)

    def stack(self, path: Path) -> Stack:
        """Load a stack file with this context's environment for ``${VAR}`` substitution."""
        return load_stack(path, self.environ)

    def gateway(self, args: argparse.Namespace, stack: Stack | None = None, timeout: float | None = 30.0) -> Gateway:
        """A client of the gateway chosen by ``--gateway``, the stack file (given or ``-f``), or ``OPENFAAS_URL``.

        It sends the credentials ``faasq login`` (or ``faas-cli login``) saved for that URL, and shows each
        request on stderr when ``FAAS_DEBUG=1``.
        """
        if stack is None and getattr(args, "yaml", None):
            stack = self.stack(Path(args.yaml))
        stack_gateway = stack.provider.gateway if stack is not None else None
        url = resolve_gateway(getattr(args, "gateway", None), stack_gateway, self.environ.get("OPENFAAS_URL"))
        debug = self.console.err if self.environ.get("FAAS_DEBUG") in ("1", "true") else None
        credentials = lookup(config_path(self.environ), url)
        return Gateway(url, transport=self.transport, timeout=timeout, credentials=credentials, debug=debug)


def add_gateway_options(parser: argparse.ArgumentParser, *, stack_file: bool = True) -> argparse.ArgumentParser:
    """Add ``--gateway``, ``--namespace`` and (unless the command has its own) ``--yaml`` to a command."""
    parser.add_argument("-g", "--gateway", help="gateway URL (default: the stack's, $OPENFAAS_URL, or :8080)")
    parser.add_argument("-n", "--namespace", help="the namespace (default: the provider's)")
    if stack_file:
        parser.add_argument("-f", "--yaml", help="a stack file whose provider.gateway to use")
    return parser


def parse_pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    """Split ``key=value`` options at the first ``=``.

    Raises:
        CliError: a value has no ``=`` or an empty key.
    """
    pairs = []
    for value in values:
        key, equals, rest = value.partition("=")
        if not equals or not key.strip():
            raise CliError(f"invalid {what} {value!r}: use key=value")
        pairs.append((key.strip(), rest))
    return pairs
